/**
 * `POST {prefix}/__portico/start`: the stopped page's Start button. Served by the proxy under the
 * workspace's own prefix, never by the IDE. A request gets here identified (session cookie or
 * bearer: the dispatcher answered 401 otherwise) and then passes:
 *
 *   POST only (405) → this workspace's own page (403 `cross_origin`) → the API's service layer
 *   (proxy/api/service.ts `start`): 404 for a workspace the caller may not see, 403 for a sharee
 *   (mayManage: the owner and admins), 429 past the owner's running limit → 202 with the workspace.
 *
 * "Its own page" is stricter than the origin pass every unsafe request to a workspace takes
 * (http/origin.ts): the class's `allowedOrigins` do not count, an `Origin` is required (a browser
 * always sends one on a POST; clients without one have the API's `/start`), `Sec-Fetch-Site` must be
 * `same-origin` when sent, and the `Referer` must be a page under this workspace's prefix. Why:
 * - in host mode every workspace host shares the session cookie's site, so another workspace's page
 *   could otherwise POST here with the user's cookie (SameSite=Lax lets same-site POSTs carry it):
 *   Origin refuses it;
 *   the console's origin is the base domain, another origin: it starts workspaces through the API,
 *   where its own origin rules apply, not through this endpoint;
 * - in path mode every workspace shares one origin, so Origin cannot tell them apart; the Referer
 *   (the page sends it: its Referrer-Policy is `same-origin`) refuses a form or fetch made by another
 *   workspace's page. A script on that shared origin can still set a same-origin Referer of its
 *   choosing: path mode does not isolate workspaces from each other (docs/proxy.md says so).
 */
import type { IncomingHttpHeaders } from "node:http";
import type { Identity } from "../auth/identity.ts";
import { ApiError, type WorkspaceApi, type WorkspaceView } from "../api/types.ts";
import { canonicalOrigin } from "../http/origin.ts";
import { checkMethod, type Refusal } from "../http/request.ts";

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/** Where the start request must come from: the workspace's public origin and prefix. */
export interface OwnPage {
  /** `http` or `https`, as the browser sees it. */
  scheme: string;
  /** The Host header, port included. */
  host: string;
  /** The public prefix ("" in host mode). */
  prefix: string;
}

const refuse = (why: string): Refusal => ({
  status: 403,
  body: {
    error: "cross_origin",
    message: `${why}: only this workspace's own page may start it here. Open the workspace's URL and press Start, or use the API (POST /api/v1/workspaces/{namespace}/{name}/start).`,
  },
});

/** The start request came from a page of this workspace, or the refusal. Pure. */
export function fromOwnPage(headers: IncomingHttpHeaders, own: OwnPage): Refusal | undefined {
  const ownOrigin = canonicalOrigin(`${own.scheme}://${own.host}`);
  const origin = first(headers.origin)?.trim();
  if (!origin) return refuse("no Origin header");
  if (!ownOrigin || canonicalOrigin(origin) !== ownOrigin)
    return refuse(`a request from origin ${JSON.stringify(origin)}`);
  const site = first(headers["sec-fetch-site"])?.trim().toLowerCase();
  if (site !== undefined && site !== "same-origin") return refuse(`a ${site} request`);
  const referer = first(headers.referer);
  let from: URL | undefined;
  try {
    from = referer ? new URL(referer) : undefined;
  } catch {
    from = undefined;
  }
  if (!from) return refuse("no Referer header");
  if (from.origin !== ownOrigin || !from.pathname.startsWith(`${own.prefix}/`))
    return refuse("a request from another page than this workspace's");
  return undefined;
}

/** The method pass: the start endpoint takes POST only. */
export const startMethod = (method: string | undefined): Refusal | undefined => checkMethod(method, ["POST"]);

/** The refusal when no API is served: the page offers no Start then either. */
export const NO_API: Refusal = Object.freeze({
  status: 404,
  body: {
    error: "not_found",
    message:
      "starting a workspace from its page needs the self-service API (--api); set spec.running to true",
  },
});

/** The answer to a start: 202 and the workspace, or the service's refusal as status and body. */
export async function startAnswer(
  api: Pick<WorkspaceApi, "start">,
  who: Identity,
  namespace: string,
  name: string,
): Promise<{ status: number; body: { workspace: WorkspaceView } | Record<string, unknown> }> {
  try {
    return { status: 202, body: { workspace: await api.start(who, namespace, name) } };
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    return {
      status: err.status,
      body: { error: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) },
    };
  }
}
