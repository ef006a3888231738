/**
 * Hash routes: the console lives at `/` of the base domain, where every other path may belong to a
 * GatewayRoute, so its views are `#/…` and never a path the server sees.
 */
export type Route =
  | { view: "list" }
  | { view: "new" }
  | { view: "admin" }
  | { view: "detail"; namespace: string; name: string; tab: "events" | "logs" | "terminal" };

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const TABS = ["events", "logs", "terminal"] as const;

/** The route of a location hash; anything unknown is the list. */
export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponentSafe);
  if (parts[0] === "new" && parts.length === 1) return { view: "new" };
  if (parts[0] === "admin" && parts.length === 1) return { view: "admin" };
  if (parts[0] === "w" && parts.length >= 3 && parts.length <= 4) {
    const [, namespace, name, tab] = parts as [string, string, string, string | undefined];
    const t = TABS.find((x) => x === (tab ?? "events"));
    if (LABEL.test(namespace) && LABEL.test(name) && t) return { view: "detail", namespace, name, tab: t };
  }
  return { view: "list" };
}

/** The hash of a route. */
export function hrefOf(r: Route): string {
  switch (r.view) {
    case "list":
      return "#/";
    case "new":
      return "#/new";
    case "admin":
      return "#/admin";
    case "detail":
      return `#/w/${encodeURIComponent(r.namespace)}/${encodeURIComponent(r.name)}${r.tab === "events" ? "" : `/${r.tab}`}`;
  }
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return "";
  }
}
