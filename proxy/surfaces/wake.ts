/**
 * Wake on access (issue 15, docs/lifecycle.md "Waking up"): what a request to a workspace that is not
 * ready does, as pure decisions, and the two effects they need — the wake itself (the API's service
 * layer, `start`: its limits apply) and waiting for the route to become ready.
 *
 *   idle-stopped, the visitor may manage it (owner, admin), the request may wake (`mayWake`) → wake,
 *     then: a browser navigation gets the waiting page at once, anything else waits;
 *   starting (a wake or a start under way) → a browser navigation gets the waiting page, anything
 *     else waits;
 *   otherwise (stopped by its user, idle-stopped for a sharee, failed) → the page or JSON, at once.
 *
 * Waiting is bounded (`--wake-wait`) and pushed, not polled: the route table tells its subscribers
 * of every change of the workspace's route (routing/table.ts `subscribe`), and a client that goes
 * away unsubscribes at once. Held requests count against the user's long-lived connections, so a
 * flood of them cannot pile up.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { Identity } from "../auth/identity.ts";
import { mayManageOwned } from "../api/policy.ts";
import { ApiError, type WorkspaceApi } from "../api/types.ts";
import type { Refusal } from "../http/request.ts";
import type { Route, RouteTable } from "../routing/table.ts";

/** What a request to a workspace that is not ready does. */
export type NotReadyAction = "wake" | "wait" | "answer";

const first = (v: string | string[] | undefined): string | undefined =>
  (Array.isArray(v) ? v[0] : v)?.trim().toLowerCase();

/**
 * Whether a request may cause a wake (a write on the user's behalf). A page of another workspace is
 * same-site in host mode, so the session cookie comes along with its `<img>`, `fetch` or `<iframe>`:
 * those must not wake (nor keep waking) the user's workspaces. What may: a top-level navigation (the
 * user opened the URL: typed, bookmarked, a link), the workspace's own origin (its IDE reconnecting),
 * and clients that are no browser (no `Sec-Fetch-*`, which a page cannot leave out).
 */
export function mayWake(headers: IncomingHttpHeaders): boolean {
  const site = first(headers["sec-fetch-site"]);
  if (site === undefined || site === "same-origin" || site === "none") return true;
  const mode = first(headers["sec-fetch-mode"]);
  const dest = first(headers["sec-fetch-dest"]);
  return mode === "navigate" && (dest === undefined || dest === "document");
}

/** The decision for a request to `route` (not ready) by `who`. Pure. */
export function notReadyAction(
  route: Route,
  who: Identity,
  headers: IncomingHttpHeaders,
  opts: { adminRoles: readonly string[]; canStart: boolean; waitMs: number },
): NotReadyAction {
  if (
    route.state === "stopped" &&
    route.idleStopped &&
    opts.canStart &&
    mayManageOwned(who, route.owner, opts.adminRoles) &&
    mayWake(headers)
  )
    return "wake";
  if (route.state === "starting" && opts.waitMs > 0) return "wait";
  return "answer";
}

/** Where a waiting request stands once its route changed. Pure. */
export function heldState(route: Route | undefined): "ready" | "wait" | "ended" {
  if (!route) return "ended";
  if (route.state === "ready" && route.upstream) return "ready";
  if (route.state === "starting" || route.state === "ready") return "wait";
  // Still idle-stopped: the wake's write has not come back through the watch yet.
  if (route.state === "stopped" && route.idleStopped) return "wait";
  return "ended"; // stopped by its user meanwhile, or failed: answered as it is now
}

/** How a wait ended (the `result` label of portico_wake_wait_seconds, except `ended`). */
export type WaitOutcome =
  | { result: "forwarded"; route: Route }
  | { result: "timed_out" }
  | { result: "client_gone" }
  | { result: "ended"; route: Route | undefined };

/** Anything that says when the client went away (a response, a socket). */
export interface Closes {
  once(e: "close", f: () => void): unknown;
  removeListener(e: "close", f: () => void): unknown;
}

/**
 * Waits until `namespace/name` is ready (its route, as the table has it then), its wait ends
 * otherwise, `timeoutMs` passed, or the client went (`closes`). Every path unsubscribes.
 */
export function waitReady(
  table: Pick<RouteTable, "subscribe" | "get">,
  namespace: string,
  name: string,
  timeoutMs: number,
  closes: Closes,
): Promise<WaitOutcome> {
  return new Promise((resolve) => {
    let done = false;
    const cleanups: (() => void)[] = [];
    const settle = (o: WaitOutcome) => {
      if (done) return;
      done = true;
      for (const c of cleanups) c();
      resolve(o);
    };
    const seen = (route: Route | undefined) => {
      const s = heldState(route);
      if (s === "ready") settle({ result: "forwarded", route: route! });
      else if (s === "ended") settle({ result: "ended", route });
    };
    const gone = () => settle({ result: "client_gone" });
    closes.once("close", gone);
    cleanups.push(() => closes.removeListener("close", gone));
    cleanups.push(table.subscribe(namespace, name, seen));
    const timer = setTimeout(() => settle({ result: "timed_out" }), timeoutMs);
    cleanups.push(() => clearTimeout(timer));
    seen(table.get(namespace, name)); // it may have become ready before we subscribed
  });
}

/** A wake's answer: done, or the service's refusal (limits, rights) as status and body. */
export type WakeResult = { ok: true } | { ok: false; status: number; error: string; message: string };

/** The wake results of `portico_wakes_total`. */
export type WakeMetric = "woken" | "refused" | "error";

/**
 * Wakes through the service layer, one call per workspace at a time: a burst of requests arriving
 * for a sleeping workspace (an IDE tab reconnecting with a dozen requests) costs one write.
 */
export class Wakes {
  readonly #inflight = new Map<string, Promise<WakeResult>>();
  readonly #api: Pick<WorkspaceApi, "start">;
  readonly #observe: (r: WakeMetric) => void;

  constructor(api: Pick<WorkspaceApi, "start">, observe: (r: WakeMetric) => void = () => undefined) {
    this.#api = api;
    this.#observe = observe;
  }

  wake(who: Identity, route: Route): Promise<WakeResult> {
    // Keyed by caller too: the service decides per identity (a refusal for one is not for another).
    const key = `${route.namespace}/${route.name}\u0000${who.user}`;
    const running = this.#inflight.get(key);
    if (running) return running;
    const p = this.#api.start(who, route.namespace, route.name).then(
      (): WakeResult => (this.#observe("woken"), { ok: true }),
      (err: unknown): WakeResult => {
        if (!(err instanceof ApiError)) {
          this.#observe("error");
          throw err;
        }
        this.#observe("refused");
        return { ok: false, status: err.status, error: err.code, message: err.message };
      },
    );
    this.#inflight.set(key, p);
    const clear = () => this.#inflight.delete(key);
    p.then(clear, clear);
    return p;
  }
}

/** 503 for a request held `waitMs` that the workspace did not become ready for. */
export const heldTimedOut = (r: Pick<Route, "namespace" | "name">, waitMs: number): Refusal => ({
  status: 503,
  body: {
    error: "workspace_starting",
    message: `workspace ${r.namespace}/${r.name} is still starting after ${Math.round(waitMs / 1000)} s; retry`,
  },
  headers: { "retry-after": "5" },
});

/** 503 for an upgrade to a workspace that is not ready (`now`: its route now; undefined: deleted). */
export const upgradeNotReady = (r: Pick<Route, "namespace" | "name">, now: Route | undefined): Refusal => ({
  status: 503,
  body: {
    error: "workspace_not_ready",
    message: `workspace ${r.namespace}/${r.name} is ${now?.state ?? "deleted"}`,
  },
  headers: { "retry-after": "2" },
});

/** 500 when the wake failed for an unexpected reason (logged). */
export const WAKE_FAILED: Refusal = Object.freeze({
  status: 500,
  body: { error: "internal", message: "the wake failed; retry, or start it from the console" },
});
