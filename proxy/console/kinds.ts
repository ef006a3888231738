/**
 * The kinds the console's resource views serve, as data: where each lives in the API server and what
 * RBAC calls it. Pure. A kind outside this table is never asked for, whatever the request says.
 */

/** A kind's name in the console's paths (`/api/resources/{kind}`). */
export type KindName = "pods" | "deployments" | "services" | "secrets" | "configmaps" | "namespaces" | "crds";

export interface KindInfo {
  name: KindName;
  /** RBAC's API group ("" for the core group) and resource, as a SubjectAccessReview names them. */
  group: string;
  version: string;
  resource: string;
  namespaced: boolean;
}

/** Every served kind, in the order the console shows them. */
export const KINDS: readonly KindInfo[] = [
  { name: "pods", group: "", version: "v1", resource: "pods", namespaced: true },
  { name: "deployments", group: "apps", version: "v1", resource: "deployments", namespaced: true },
  { name: "services", group: "", version: "v1", resource: "services", namespaced: true },
  { name: "secrets", group: "", version: "v1", resource: "secrets", namespaced: true },
  { name: "configmaps", group: "", version: "v1", resource: "configmaps", namespaced: true },
  { name: "namespaces", group: "", version: "v1", resource: "namespaces", namespaced: false },
  {
    name: "crds",
    group: "apiextensions.k8s.io",
    version: "v1",
    resource: "customresourcedefinitions",
    namespaced: false,
  },
];

/** Singular and kubectl-style names a client may use for the same kinds. */
const ALIASES: Record<string, KindName> = {
  pod: "pods",
  deployment: "deployments",
  service: "services",
  secret: "secrets",
  configmap: "configmaps",
  namespace: "namespaces",
  crd: "crds",
  customresourcedefinitions: "crds",
  customresourcedefinition: "crds",
};

/** The kind `name` (a plural, singular or alias), or undefined when it is not served. */
export function kindOf(name: string): KindInfo | undefined {
  const canonical = KINDS.some((k) => k.name === name) ? name : ALIASES[name];
  return KINDS.find((k) => k.name === canonical);
}

/** `pods`, `deployments.apps`: how a kind is named in messages (as kubectl names resources). */
export function resourceLabel(k: KindInfo): string {
  return k.group ? `${k.resource}.${k.group}` : k.resource;
}

/**
 * The API server path of a kind's collection or of one object: `/api/v1/namespaces/{ns}/pods[/{name}]`,
 * `/apis/apps/v1/deployments` (every namespace). Names and namespaces must be validated first; they
 * are encoded here all the same.
 */
export function apiPath(k: KindInfo, namespace?: string, name?: string): string {
  const root = k.group ? `/apis/${k.group}/${k.version}` : `/api/${k.version}`;
  const scope = k.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  return `${root}${scope}/${k.resource}${name ? `/${encodeURIComponent(name)}` : ""}`;
}
