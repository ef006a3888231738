/**
 * The workspace's base path (`{prefix}`), where it is filled in, and the workspace's public address.
 *
 * `{prefix}` is the path the browser sees in front of the IDE, without a trailing slash: empty in host
 * routing (each workspace has its own origin) and `/w/{namespace}/{name}` in path routing.
 */
import type { HTTPHeader, Workspace, WorkspaceClass } from "../../../crds/types.ts";
import { requiredName, requiredNamespace } from "./names.ts";

/** The placeholder replaced by the base path. */
export const PREFIX_PLACEHOLDER = "{prefix}";

/** How workspaces are addressed; the operator's and the proxy's configurations both carry it. */
export interface RoutingConfig {
  /**
   * `host`: each workspace at `{scheme}://{name}--{namespace}.{baseDomain}/` (its own origin, the
   * default) and the IDE's base path is empty. `path`: at `{scheme}://{baseDomain}/w/{namespace}/{name}/`
   * and the IDE's base path `{prefix}` is `/w/{namespace}/{name}`.
   */
  routing: "host" | "path";
  baseDomain: string;
  urlScheme: "http" | "https";
  /**
   * The port in workspace URLs when browsers reach the proxy on a non-default one (0: none, the
   * scheme's own). Routing ignores it: the proxy matches the Host header without its port.
   */
  urlPort: number;
}

/** The base path of `ws`: `""` (host routing) or `/w/{namespace}/{name}` (path routing). */
export function basePath(ws: Workspace, config: Pick<RoutingConfig, "routing">): string {
  return config.routing === "path" ? `/w/${requiredNamespace(ws)}/${requiredName(ws)}` : "";
}

/** Replaces every `{prefix}` in `s`; other braces are left as they are. */
export function fillPrefix(s: string, prefix: string): string {
  return s.split(PREFIX_PLACEHOLDER).join(prefix);
}

/** The class's readiness path with `{prefix}` filled (default `{prefix}/`); never empty. */
export function readinessPath(cls: WorkspaceClass, prefix: string): string {
  const path = fillPrefix(cls.spec.readinessPath ?? `${PREFIX_PLACEHOLDER}/`, prefix);
  return path.startsWith("/") ? path : `/${path}`;
}

/** The class's request headers with `{prefix}` filled in their values. */
export function requestHeaders(cls: WorkspaceClass, prefix: string): HTTPHeader[] {
  return (cls.spec.basePath?.requestHeaders ?? []).map((h) => ({
    name: h.name,
    value: fillPrefix(h.value, prefix),
  }));
}

/** The host the browser uses: `{name}--{namespace}.{baseDomain}` (host routing) or `baseDomain` (path). */
export function workspaceHost(ws: Workspace, config: Pick<RoutingConfig, "routing" | "baseDomain">): string {
  if (config.routing === "path") return config.baseDomain;
  return `${requiredName(ws)}--${requiredNamespace(ws)}.${config.baseDomain}`;
}

/**
 * Where the browser reaches the IDE, always ending in `/`: `{scheme}://{name}--{namespace}.{baseDomain}/`
 * or `{scheme}://{baseDomain}/w/{namespace}/{name}/`, with `:{urlPort}` after the host when set.
 */
export function workspaceUrl(ws: Workspace, config: RoutingConfig): string {
  const port = config.urlPort ? `:${config.urlPort}` : "";
  return `${config.urlScheme}://${workspaceHost(ws, config)}${port}${basePath(ws, config)}/`;
}
