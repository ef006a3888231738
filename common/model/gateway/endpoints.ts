/**
 * Where a GatewayRoute rule's traffic may go, from the cluster's Services and EndpointSlices (pure).
 * The operator counts them for status; the proxy balances over them.
 *
 * A Service backend names the Service's `port`; its EndpointSlices list the pods' ports by the
 * Service port's name (the target port, resolved), so the name joins the two. An endpoint whose
 * `ready` condition is false is not served (absent counts as ready, as the API documents); a pod
 * with several addresses is one endpoint (its addresses are interchangeable), at its first address.
 */
import type { RouteBackend, RouteRule } from "../../../crds/types.ts";
import type { Endpoint } from "./model.ts";

/** The parts of a Service this needs. */
export interface ServiceLike {
  metadata?: { name?: string; namespace?: string };
  spec?: { ports?: { name?: string; port: number }[] };
}

/** The parts of an EndpointSlice this needs. */
export interface EndpointSliceLike {
  metadata?: { namespace?: string; labels?: Record<string, string> };
  ports?: { name?: string | null; port?: number | null }[] | null;
  endpoints?: { addresses: string[]; conditions?: { ready?: boolean | null } | null }[] | null;
}

/** Lookups over the watched caches. */
export interface ClusterView {
  service(namespace: string, name: string): ServiceLike | undefined;
  /** The EndpointSlices of a Service (label kubernetes.io/service-name). */
  slices(namespace: string, service: string): readonly EndpointSliceLike[];
}

/** The label that ties an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

export type BackendResolution =
  | { ok: true; ready: string[]; total: number }
  | { ok: false; reason: "BackendNotFound" | "PortNotFound"; message: string };

/** `ip:port` with IPv6 bracketed, as an origin needs it. */
const hostPort = (ip: string, port: number) => (ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`);

/** A Service backend's endpoints: ready ones as `ip:port`, and how many there are in all. */
export function resolveServiceBackend(
  namespace: string,
  ref: { name: string; port: number },
  view: ClusterView,
): BackendResolution {
  const svc = view.service(namespace, ref.name);
  if (!svc)
    return {
      ok: false,
      reason: "BackendNotFound",
      message: `Service ${namespace}/${ref.name} does not exist`,
    };
  const svcPort = (svc.spec?.ports ?? []).find((p) => p.port === ref.port);
  if (!svcPort) {
    const has = (svc.spec?.ports ?? []).map((p) => p.port).join(", ") || "none";
    return {
      ok: false,
      reason: "PortNotFound",
      message: `Service ${namespace}/${ref.name} has no port ${ref.port} (it has: ${has})`,
    };
  }
  const portName = svcPort.name ?? "";
  const ready = new Set<string>();
  const all = new Set<string>();
  for (const slice of view.slices(namespace, ref.name)) {
    const port = (slice.ports ?? []).find((p) => (p.name ?? "") === portName)?.port;
    if (port === undefined || port === null) continue;
    for (const e of slice.endpoints ?? []) {
      const ip = e.addresses[0];
      if (!ip) continue;
      const id = hostPort(ip, port);
      all.add(id);
      if (e.conditions?.ready !== false) ready.add(id);
    }
  }
  return { ok: true, ready: [...ready].sort(), total: all.size };
}

/** A URL backend as an endpoint's origin and base path (no trailing slash). */
export function urlBackend(url: string): { origin: string; basePath: string } {
  const u = new URL(url);
  return { origin: u.origin, basePath: u.pathname.replace(/\/+$/, "") };
}

/** The weight of a backend (default 1). */
export const backendWeight = (b: RouteBackend) => b.weight ?? 1;

/**
 * A rule's endpoints, ready ones only, each carrying its share of its backend's weight. Backends
 * that do not resolve contribute nothing (status says why).
 */
export function ruleEndpoints(namespace: string, rule: RouteRule, view: ClusterView): Endpoint[] {
  const out: Endpoint[] = [];
  rule.backends.forEach((b, backend) => {
    const weight = backendWeight(b);
    if (b.url) {
      const { origin, basePath } = urlBackend(b.url);
      out.push({ id: origin + basePath, origin, basePath, backend, weight });
      return;
    }
    if (!b.service) return;
    const r = resolveServiceBackend(namespace, b.service, view);
    if (!r.ok) return;
    for (const id of r.ready)
      out.push({ id, origin: `http://${id}`, basePath: "", backend, weight: weight / r.ready.length });
  });
  return out;
}
