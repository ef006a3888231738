import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { Identity } from "../auth/identity.ts";
import { ApiError, type WorkspaceView } from "../api/types.ts";
import { RouteTable, type Route } from "../routing/table.ts";
import { Wakes, heldState, mayWake, notReadyAction, waitReady } from "./wake.ts";

const route = (over: Partial<Route> = {}): Route => ({
  namespace: "ns",
  name: "a",
  owner: "alice",
  className: "jupyter",
  created: "",
  state: "stopped",
  message: "",
  idePrefix: "",
  stripPrefix: false,
  requestHeaders: [],
  rewriteLocation: false,
  rewriteCookiePath: false,
  idleStopped: true,
  ...over,
});
const who = (user: string, roles: string[] = []): Identity => ({ user, groups: [], roles, via: "session" });
const opts = { adminRoles: ["portico-admin"], canStart: true, waitMs: 60_000 };
const nav = { "sec-fetch-site": "none", "sec-fetch-mode": "navigate", "sec-fetch-dest": "document" };

test("mayWake: a navigation, the workspace's own origin and non-browsers; not another page's subresource", () => {
  assert.equal(mayWake({}), true, "curl, API clients: no Sec-Fetch-*");
  assert.equal(mayWake(nav), true, "typed or bookmarked");
  assert.equal(mayWake({ "sec-fetch-site": "same-origin", "sec-fetch-mode": "cors" }), true, "its own IDE");
  assert.equal(
    mayWake({ "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate", "sec-fetch-dest": "document" }),
    true,
    "a link in a chat",
  );
  const refused = [
    { "sec-fetch-site": "same-site", "sec-fetch-mode": "no-cors", "sec-fetch-dest": "image" },
    { "sec-fetch-site": "same-site", "sec-fetch-mode": "cors", "sec-fetch-dest": "empty" },
    { "sec-fetch-site": "same-site", "sec-fetch-mode": "navigate", "sec-fetch-dest": "iframe" },
    { "sec-fetch-site": "cross-site", "sec-fetch-mode": "websocket", "sec-fetch-dest": "websocket" },
    { "sec-fetch-site": "same-site", "sec-fetch-mode": "no-cors", "sec-fetch-dest": "script" },
  ];
  for (const h of refused) assert.equal(mayWake(h), false, JSON.stringify(h));
});

test("notReadyAction: only an idle-stopped workspace, only for who may manage it, only with the API", () => {
  const idle = route();
  assert.equal(notReadyAction(idle, who("alice"), nav, opts), "wake");
  assert.equal(notReadyAction(idle, who("root", ["portico-admin"]), nav, opts), "wake");
  assert.equal(notReadyAction(idle, who("bob"), nav, opts), "answer", "a sharee or anyone else");
  assert.equal(notReadyAction(idle, who("alice"), nav, { ...opts, canStart: false }), "answer", "no API");
  const img = { "sec-fetch-site": "same-site", "sec-fetch-mode": "no-cors", "sec-fetch-dest": "image" };
  assert.equal(notReadyAction(idle, who("alice"), img, opts), "answer", "another page's <img>");
  const stoppedByUser = route({ idleStopped: undefined });
  assert.equal(notReadyAction(stoppedByUser, who("alice"), nav, opts), "answer");
  assert.equal(
    notReadyAction(route({ state: "failed", idleStopped: undefined }), who("alice"), nav, opts),
    "answer",
  );
  const starting = route({ state: "starting", idleStopped: undefined });
  assert.equal(notReadyAction(starting, who("bob"), {}, opts), "wait", "anyone who may open it waits");
  assert.equal(notReadyAction(starting, who("bob"), {}, { ...opts, waitMs: 0 }), "answer", "--wake-wait=0s");
});

test("heldState: ready with an upstream ends the wait; a stale idle-stopped route waits; a stop or failure ends it", () => {
  assert.equal(heldState(route({ state: "ready", upstream: { host: "h", port: 1 } })), "ready");
  assert.equal(heldState(route({ state: "starting" })), "wait");
  assert.equal(heldState(route()), "wait", "the wake's write has not come back yet");
  assert.equal(heldState(route({ idleStopped: undefined })), "ended", "its user stopped it meanwhile");
  assert.equal(heldState(route({ state: "failed", idleStopped: undefined })), "ended");
  assert.equal(heldState(undefined), "ended", "deleted");
});

test("waitReady: pushed by the table, bounded, cancelled when the client goes; it always unsubscribes", async () => {
  const t = new RouteTable({ routing: "host", baseDomain: "portico.test" });
  t.upsert(route());
  const client = new EventEmitter();
  const ready = waitReady(t, "ns", "a", 60_000, client);
  assert.equal(t.listenerCount("ns", "a"), 1);
  t.upsert(route({ state: "starting", idleStopped: undefined }));
  t.upsert(route({ state: "ready", idleStopped: undefined, upstream: { host: "10.0.0.1", port: 8080 } }));
  const o = await ready;
  assert.equal(o.result, "forwarded");
  assert.deepEqual(o.result === "forwarded" && o.route.upstream, { host: "10.0.0.1", port: 8080 });
  assert.equal(t.listenerCount("ns", "a"), 0);
  assert.equal(client.listenerCount("close"), 0);

  const gone = waitReady(t, "ns", "a", 60_000, client); // ready already: at once
  assert.equal((await gone).result, "forwarded");

  t.upsert(route({ state: "starting", idleStopped: undefined }));
  const leaving = waitReady(t, "ns", "a", 60_000, client);
  client.emit("close");
  assert.equal((await leaving).result, "client_gone");
  assert.equal(t.listenerCount("ns", "a"), 0);

  const bounded = waitReady(t, "ns", "a", 20, client);
  assert.equal((await bounded).result, "timed_out");
  assert.equal(t.listenerCount("ns", "a"), 0);

  const stopped = waitReady(t, "ns", "a", 60_000, client);
  t.upsert(route({ idleStopped: undefined }));
  const s = await stopped;
  assert.equal(s.result, "ended");
  t.upsert(route({ state: "starting", idleStopped: undefined }));
  const deleted = waitReady(t, "ns", "a", 60_000, client);
  t.remove("ns", "a");
  assert.deepEqual(await deleted, { result: "ended", route: undefined });
  assert.equal(client.listenerCount("close"), 0);
});

test("Wakes: one start per workspace and caller at a time; refusals are answers, not errors", async () => {
  const calls: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const results: string[] = [];
  const api = {
    async start(w: Identity, ns: string, name: string): Promise<WorkspaceView> {
      calls.push(`${w.user} ${ns}/${name}`);
      if (w.user === "bob") throw new ApiError(403, "forbidden", "shared with you");
      if (w.user === "carol") throw new Error("boom");
      await gate;
      return {} as WorkspaceView;
    },
  };
  const wakes = new Wakes(api, (r) => results.push(r));
  const burst = [wakes.wake(who("alice"), route()), wakes.wake(who("alice"), route())];
  release();
  assert.deepEqual(await Promise.all(burst), [{ ok: true }, { ok: true }]);
  assert.deepEqual(calls, ["alice ns/a"]);
  await wakes.wake(who("alice"), route());
  assert.equal(calls.length, 2, "a later visit asks again (the service writes nothing if it is awake)");
  assert.deepEqual(await wakes.wake(who("bob"), route()), {
    ok: false,
    status: 403,
    error: "forbidden",
    message: "shared with you",
  });
  await assert.rejects(wakes.wake(who("carol"), route()), /boom/);
  assert.deepEqual(results, ["woken", "woken", "refused", "error"]);
});
