/**
 * What the console shows of an object: a view, never the raw object. Pure.
 *
 * Left out everywhere: `managedFields` and the last-applied annotation (kubectl's copy of the whole
 * object as last applied, which for a Secret holds its values). A Secret's view has its type and key
 * names only; values are added by `revealedSecret` alone, which the endpoint calls only on an
 * explicit, authorized reveal. A ConfigMap's view has its data (ConfigMaps are not for secrets; RBAC
 * still decides who lists them).
 */
import type { KindName } from "./kinds.ts";

/** An API object as the API server sends it (JSON). */
export interface RawObject {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind?: string; name?: string; controller?: boolean }[];
    deletionTimestamp?: string;
  };
  [k: string]: unknown;
}

/** Annotations never shown: each may carry a whole earlier copy of the object. */
const HIDDEN_ANNOTATIONS = new Set([
  "kubectl.kubernetes.io/last-applied-configuration",
  "deployment.kubernetes.io/revision-history",
]);

export interface MetaView {
  name: string;
  namespace?: string;
  uid?: string;
  created?: string;
  deleting?: boolean;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  owners: { kind: string; name: string }[];
}

export function metaView(o: RawObject): MetaView {
  const m = o.metadata ?? {};
  const annotations = Object.fromEntries(
    Object.entries(m.annotations ?? {}).filter(([k]) => !HIDDEN_ANNOTATIONS.has(k)),
  );
  return {
    name: m.name ?? "",
    ...(m.namespace ? { namespace: m.namespace } : {}),
    ...(m.uid ? { uid: m.uid } : {}),
    ...(m.creationTimestamp ? { created: m.creationTimestamp } : {}),
    ...(m.deletionTimestamp ? { deleting: true } : {}),
    labels: { ...m.labels },
    annotations,
    owners: (m.ownerReferences ?? []).map((r) => ({ kind: r.kind ?? "", name: r.name ?? "" })),
  };
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? v.map(obj) : []);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const num = (v: unknown): number => (typeof v === "number" ? v : 0);

/** Conditions as `{type, status, reason?, message?}`. */
function conditions(status: Obj): Obj[] {
  return arr(status.conditions).map((c) => ({
    type: str(c.type) ?? "",
    status: str(c.status) ?? "",
    ...(str(c.reason) ? { reason: c.reason } : {}),
    ...(str(c.message) ? { message: c.message } : {}),
  }));
}

function podView(o: RawObject): Obj {
  const spec = obj(o.spec);
  const status = obj(o.status);
  const statuses = new Map(arr(status.containerStatuses).map((s) => [str(s.name), s]));
  return {
    phase: str(status.phase) ?? "Unknown",
    ...(str(status.podIP) ? { podIP: status.podIP } : {}),
    ...(str(spec.nodeName) ? { node: spec.nodeName } : {}),
    containers: arr(spec.containers).map((c) => {
      const s = statuses.get(str(c.name));
      const state = Object.keys(obj(s?.state))[0];
      return {
        name: str(c.name) ?? "",
        image: str(c.image) ?? "",
        ready: s?.ready === true,
        restarts: num(s?.restartCount),
        ...(state ? { state } : {}),
      };
    }),
    conditions: conditions(status),
  };
}

function deploymentView(o: RawObject): Obj {
  const spec = obj(o.spec);
  const status = obj(o.status);
  const template = obj(obj(spec.template).spec);
  return {
    replicas: typeof spec.replicas === "number" ? spec.replicas : 1,
    ready: num(status.readyReplicas),
    updated: num(status.updatedReplicas),
    available: num(status.availableReplicas),
    images: arr(template.containers).map((c) => str(c.image) ?? ""),
    conditions: conditions(status),
  };
}

function serviceView(o: RawObject): Obj {
  const spec = obj(o.spec);
  return {
    type: str(spec.type) ?? "ClusterIP",
    ...(str(spec.clusterIP) ? { clusterIP: spec.clusterIP } : {}),
    ports: arr(spec.ports).map((p) => ({
      ...(str(p.name) ? { name: p.name } : {}),
      port: num(p.port),
      protocol: str(p.protocol) ?? "TCP",
      ...(p.targetPort !== undefined ? { targetPort: p.targetPort } : {}),
    })),
    selector: { ...obj(spec.selector) },
  };
}

/** A Secret's view: type and key names, never a value. */
function secretView(o: RawObject): Obj {
  const keys = new Set([...Object.keys(obj(o.data)), ...Object.keys(obj(o.stringData))]);
  return { type: str(o.type) ?? "Opaque", keys: [...keys].sort() };
}

function configMapView(o: RawObject): Obj {
  return {
    data: { ...obj(o.data) },
    binaryKeys: Object.keys(obj(o.binaryData)).sort(),
  };
}

function namespaceView(o: RawObject): Obj {
  return { phase: str(obj(o.status).phase) ?? "Active" };
}

function crdView(o: RawObject): Obj {
  const spec = obj(o.spec);
  const names = obj(spec.names);
  return {
    group: str(spec.group) ?? "",
    kind: str(names.kind) ?? "",
    plural: str(names.plural) ?? "",
    scope: str(spec.scope) ?? "",
    versions: arr(spec.versions).map((v) => ({
      name: str(v.name) ?? "",
      served: v.served === true,
      storage: v.storage === true,
    })),
  };
}

const VIEWS: Record<KindName, (o: RawObject) => Obj> = {
  pods: podView,
  deployments: deploymentView,
  services: serviceView,
  secrets: secretView,
  configmaps: configMapView,
  namespaces: namespaceView,
  crds: crdView,
};

/** The view of `o`, a `kind` object: its metadata and the kind's own fields. */
export function viewOf(kind: KindName, o: RawObject): MetaView & Obj {
  return { ...metaView(o), ...VIEWS[kind](o) };
}

/** A revealed value: UTF-8 text when the bytes are valid UTF-8, else the base64 as stored. */
export interface RevealedValue {
  encoding: "utf-8" | "base64";
  value: string;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A Secret's view with its values decoded. Only for an explicit reveal the caller may make (the
 * endpoint checks `get` on that Secret by SubjectAccessReview and the proxy's revealSecrets flag).
 */
export function revealedSecret(o: RawObject): MetaView & Obj & { values: Record<string, RevealedValue> } {
  const values: Record<string, RevealedValue> = {};
  for (const [k, v] of Object.entries(obj(o.data))) {
    if (typeof v !== "string") continue;
    try {
      values[k] = { encoding: "utf-8", value: utf8.decode(Buffer.from(v, "base64")) };
    } catch {
      values[k] = { encoding: "base64", value: v };
    }
  }
  return { ...viewOf("secrets", o), values };
}
