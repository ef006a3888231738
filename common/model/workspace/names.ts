/**
 * Names and labels of a Workspace's children. Pure and deterministic: the same Workspace always gives
 * the same names, so a crash or restart between "create" calls never makes a second child.
 *
 * Every name is a DNS-1035 label (at most 63 characters, lowercase letters, digits and `-`, starting
 * with a letter), the strictest rule any of the child kinds has (Service names). When the plain form
 * would break it, the name becomes a slug of the input plus a short hash of the exact input, so two
 * different inputs never share a name.
 */
import { createHash } from "node:crypto";
import type { Workspace } from "../../../crds/types.ts";

/** Longest DNS label (and label value). */
export const MAX_LABEL = 63;
/** Hex characters of the hash appended to names that had to be shortened or cleaned. */
export const HASH_LENGTH = 8;

/** `app.kubernetes.io/managed-by` on every child. */
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY = "portico-operator";
/** `app.kubernetes.io/name` on every child. */
export const NAME_LABEL = "app.kubernetes.io/name";
export const COMPONENT_NAME = "portico-workspace";
/** The workspace a child belongs to (label value: the name, or its hashed form when longer than 63). */
export const WORKSPACE_LABEL = "portico.dev/workspace";
/** The exact workspace name (annotation, since label values are limited to 63 characters). */
export const WORKSPACE_ANNOTATION = "portico.dev/workspace";
/** The owner's slug (label) and exact name (annotation). */
export const OWNER_LABEL = "portico.dev/owner";
export const OWNER_ANNOTATION = "portico.dev/owner";
/** Name of the IDE's container in a workspace pod (logs and exec address it). */
export const IDE_CONTAINER = "ide";
/** Annotation on a Workspace the API provisioned for a repository: `{repoOwner}/{repoName}`. */
export const REPOSITORY_ANNOTATION = "portico.dev/repository";
/**
 * On a Workspace: a repository sync is asked for. The value is an opaque request id (the API writes
 * `{RFC 3339 time}-{random}`); the operator syncs once per distinct value and answers in `status.sync`.
 */
export const SYNC_REQUESTED_ANNOTATION = "portico.dev/sync-requested";
/** On a sync pod: the request id it runs for (the annotation's value when it was created). */
export const SYNC_REQUEST_ANNOTATION = "portico.dev/sync-request";
/**
 * On a sync pod: the workspace it syncs (label value as `portico.dev/workspace`). Not that label itself,
 * which the workspace's Service and NetworkPolicy select: a sync pod serves nothing.
 */
export const SYNC_OF_LABEL = "portico.dev/sync-of";
/** On pods (and user-scope claims): the claim they mount, for the shared-claim pod affinity. */
export const CLAIM_LABEL = "portico.dev/claim";

/** Labels that every child of this operator carries. */
export const CHILD_SELECTOR: Readonly<Record<string, string>> = Object.freeze({
  [MANAGED_BY_LABEL]: MANAGED_BY,
  [NAME_LABEL]: COMPONENT_NAME,
});

/** `CHILD_SELECTOR` as a label selector string for list/watch calls. */
export const CHILD_LABEL_SELECTOR = labelSelector(CHILD_SELECTOR);

const DNS1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** First `length` hex characters of sha256(`s`). */
export function shortHash(s: string, length = HASH_LENGTH): string {
  return createHash("sha256").update(s, "utf8").digest("hex").slice(0, length);
}

/** Lowercases and replaces every run of characters outside `[a-z0-9]` with one `-`; trims `-`. */
export function slugify(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
}

/** `s` cut to at most `max` characters, without a trailing `-`. */
function cut(s: string, max: number): string {
  return s.slice(0, Math.max(0, max)).replace(/-+$/, "");
}

/**
 * `{prefix}{raw}{suffix}` when that is a valid DNS-1035 label, else `{prefix}{slug(raw)}-{hash(raw)}{suffix}`
 * with the slug shortened so the whole fits 63 characters. `prefix` must start with a letter.
 */
export function boundedName(prefix: string, raw: string, suffix = ""): string {
  const plain = `${prefix}${raw}${suffix}`;
  if (plain.length <= MAX_LABEL && DNS1035.test(plain)) return plain;
  const hash = shortHash(raw);
  const room = MAX_LABEL - prefix.length - suffix.length - hash.length - 1;
  const slug = cut(slugify(raw), room);
  return slug ? `${prefix}${slug}-${hash}${suffix}` : `${prefix}${hash}${suffix}`;
}

/**
 * A DNS-1123 label for `raw`: itself when it already is one (lowercase, at most 63), else its slug
 * shortened and followed by `-{hash}`. Also a valid label value.
 */
export function labelSafe(raw: string): string {
  if (raw.length <= MAX_LABEL && DNS1123_LABEL.test(raw)) return raw;
  const hash = shortHash(raw);
  const slug = cut(slugify(raw), MAX_LABEL - hash.length - 1);
  return slug ? `${slug}-${hash}` : hash;
}

/** The owner as it appears in names and the owner label: `alice` stays, `Alice.Smith@example.com` is hashed. */
export function ownerSlug(owner: string): string {
  return labelSafe(owner);
}

/**
 * Value of the `portico.dev/workspace` label: the name itself when it is a valid label value (workspace
 * names are DNS subdomains, so only length can break that), else its hashed form.
 */
export function workspaceLabelValue(name: string): string {
  return name.length <= MAX_LABEL && LABEL_VALUE.test(name) ? name : labelSafe(name);
}

/** Names of one workspace's children. */
export interface ChildNames {
  pod: string;
  service: string;
  networkPolicy: string;
  virtualService: string;
  pvc: string;
  /** The one-shot pod that merges upstream into the clone (`ws-{name}-sync`). */
  sync: string;
}

/** Name of the home claim: `ws-{name}-home` (scope `workspace`) or `home-{ownerSlug}` (scope `user`). */
export function pvcName(ws: Workspace): string {
  if (ws.spec.storage?.scope === "user") return boundedName("home-", ws.spec.owner);
  return boundedName("ws-", requiredName(ws), "-home");
}

/** All child names of `ws`. */
export function childNames(ws: Workspace): ChildNames {
  const base = boundedName("ws-", requiredName(ws));
  return {
    pod: base,
    service: base,
    networkPolicy: base,
    virtualService: base,
    pvc: pvcName(ws),
    sync: boundedName("ws-", requiredName(ws), "-sync"),
  };
}

/** Labels on every child of `ws` (pods add `portico.dev/claim`). */
export function childLabels(ws: Workspace): Record<string, string> {
  return {
    ...CHILD_SELECTOR,
    [WORKSPACE_LABEL]: workspaceLabelValue(requiredName(ws)),
    [OWNER_LABEL]: ownerSlug(ws.spec.owner),
  };
}

/** Annotations with the exact workspace and owner names, which labels may only carry hashed. */
export function childAnnotations(ws: Workspace): Record<string, string> {
  return { [WORKSPACE_ANNOTATION]: requiredName(ws), [OWNER_ANNOTATION]: ws.spec.owner };
}

/** Selects the children of one workspace (within its namespace). */
export function workspaceSelector(ws: Workspace): Record<string, string> {
  return { ...CHILD_SELECTOR, [WORKSPACE_LABEL]: workspaceLabelValue(requiredName(ws)) };
}

/** `{a: "1", b: "2"}` → `a=1,b=2`. */
export function labelSelector(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

/** The workspace's name; throws when absent (objects from the API server always have one). */
export function requiredName(ws: Workspace): string {
  const name = ws.metadata.name;
  if (!name) throw new Error("Workspace has no metadata.name");
  return name;
}

/** The workspace's namespace; throws when absent (objects from the API server always have one). */
export function requiredNamespace(ws: Workspace): string {
  const ns = ws.metadata.namespace;
  if (!ns) throw new Error(`Workspace ${ws.metadata.name ?? "(unnamed)"} has no metadata.namespace`);
  return ns;
}

/** Port of the workspace Service (the proxy dials this; it forwards to the IDE's named port). */
export const SERVICE_PORT = 80;
/** The IDE container's port name, used by the Service's targetPort. */
export const PORT_NAME = "http";
