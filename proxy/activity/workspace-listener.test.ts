import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import type { Workspace, WorkspaceClass } from "../../crds/types.ts";
import { KEEP_ALIVE_ANNOTATION } from "../../common/model/workspace/lifecycle.ts";
import type { Route } from "../routing/table.ts";
import { plainAddress, workspaceAt, workspaceListener } from "./workspace-listener.ts";

const T = Date.parse("2026-12-05T10:00:00Z");
const route = (name: string, host: string, state: Route["state"] = "ready"): Route => ({
  namespace: "ns",
  name,
  owner: "alice",
  className: "c",
  created: "",
  state,
  message: "",
  upstream: { host, port: 8080 },
  idePrefix: "",
  stripPrefix: false,
  requestHeaders: [],
  rewriteLocation: false,
  rewriteCookiePath: false,
});
const ws = (name: string): Workspace =>
  ({
    metadata: { name, namespace: "ns", annotations: {} },
    spec: { owner: "alice", className: "c" },
  }) as Workspace;

test("workspaceAt: exactly one ready route at the address", () => {
  const rs = [route("a", "10.0.0.1"), route("b", "10.0.0.2"), route("c", "10.0.0.3", "starting")];
  assert.equal(workspaceAt(rs, "10.0.0.1")?.name, "a");
  assert.equal(workspaceAt(rs, "10.0.0.3"), undefined, "not ready");
  assert.equal(workspaceAt(rs, "10.0.0.9"), undefined);
  assert.equal(workspaceAt([...rs, route("d", "10.0.0.1")], "10.0.0.1"), undefined, "two claim it: refuse");
  assert.equal(plainAddress("::ffff:10.0.0.1"), "10.0.0.1");
});

// 127.0.0.2 is workspace "a" (class cap 4h), 127.0.0.3 is "b"; 127.0.0.4 is nobody's.
const objects = new Map([
  ["a", ws("a")],
  ["b", ws("b")],
]);
const writes: { name: string; patch: object }[] = [];
let server: Server;
let port: number;
before(async () => {
  server = workspaceListener({
    routes: () => [route("a", "127.0.0.2"), route("b", "127.0.0.3")],
    workspace: (_ns, name) => objects.get(name),
    workspaceClass: () => ({ spec: { idle: { maxKeepAlive: "4h" } } }) as WorkspaceClass,
    write: async (_ns, name, patch) => {
      writes.push({ name, patch });
      Object.assign(
        objects.get(name)!.metadata.annotations!,
        (patch as { metadata: { annotations: object } }).metadata.annotations,
      );
    },
    log: { info: () => undefined, warn: () => undefined },
    now: () => T,
    ratePerSecond: 1000,
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
after(() => new Promise((r) => server.close(r)));

function call(
  from: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path, headers, localAddress: from }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode!, json: JSON.parse(text) }));
    });
    req.on("error", reject);
    req.end(headers["content-length"] ? "x".repeat(Number(headers["content-length"])) : undefined);
  });
}

test("from the workspace's own pod address: POST sets the keep-alive (capped by the class), GET shows it, 0s cancels", async () => {
  const ok = await call("127.0.0.2", "POST", "/keep-alive?duration=3h");
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.json, { namespace: "ns", name: "a", keepAliveUntil: "2026-12-05T13:00:00Z" });
  assert.deepEqual(writes.at(-1), {
    name: "a",
    patch: { metadata: { annotations: { [KEEP_ALIVE_ANNOTATION]: "2026-12-05T13:00:00Z" } } },
  });
  assert.equal((await call("127.0.0.2", "GET", "/keep-alive")).json.keepAliveUntil, "2026-12-05T13:00:00Z");
  const over = await call("127.0.0.2", "POST", "/keep-alive?duration=5h");
  assert.equal(over.status, 422);
  assert.equal(over.json.field, "duration");
  assert.match(String(over.json.message), /4h/);
  const off = await call("127.0.0.2", "POST", "/keep-alive?duration=0s");
  assert.equal(off.status, 200);
  assert.equal(off.json.keepAliveUntil, undefined);
});

const attacks: {
  attack: string;
  from: string;
  path: string;
  headers?: Record<string, string>;
  status: number;
}[] = [
  { attack: "a non-workspace address", from: "127.0.0.4", path: "/keep-alive?duration=1h", status: 403 },
  {
    attack: "a non-workspace address forging X-Forwarded-For / X-Real-IP of workspace a",
    from: "127.0.0.4",
    path: "/keep-alive?duration=1h",
    headers: { "x-forwarded-for": "127.0.0.2", "x-real-ip": "127.0.0.2", forwarded: "for=127.0.0.2" },
    status: 403,
  },
  {
    attack: "the listener's own loopback (not a pod)",
    from: "127.0.0.1",
    path: "/keep-alive?duration=1h",
    status: 403,
  },
  { attack: "another path", from: "127.0.0.2", path: "/api/v1/workspaces", status: 404 },
  {
    attack: "duration given twice",
    from: "127.0.0.2",
    path: "/keep-alive?duration=1h&duration=9h",
    status: 422,
  },
  {
    attack: "a body",
    from: "127.0.0.2",
    path: "/keep-alive?duration=1h",
    headers: { "content-length": "5" },
    status: 413,
  },
];
for (const a of attacks)
  test(`attack: ${a.attack} → ${a.status}, workspace a untouched`, async () => {
    const before = writes.length;
    const got = await call(a.from, "POST", a.path, a.headers);
    assert.equal(got.status, a.status, JSON.stringify(got.json));
    assert.equal(writes.length, before, "nothing written");
  });

test("workspace b's address acts on b only, never a", async () => {
  const got = await call("127.0.0.3", "POST", "/keep-alive?duration=1h", { "x-forwarded-for": "127.0.0.2" });
  assert.equal(got.json.name, "b");
  assert.equal(writes.at(-1)!.name, "b");
});

test("a per-address rate limit: 429 past the burst", async () => {
  const limited = workspaceListener({
    routes: () => [],
    workspace: () => undefined,
    workspaceClass: () => undefined,
    write: async () => undefined,
    log: { info: () => undefined, warn: () => undefined },
    ratePerSecond: 0.001,
  });
  await new Promise<void>((r) => limited.listen(0, "127.0.0.1", r));
  const p = port;
  port = (limited.address() as AddressInfo).port;
  try {
    const codes: number[] = [];
    for (let i = 0; i < 7; i++) codes.push((await call("127.0.0.5", "GET", "/keep-alive")).status);
    assert.deepEqual(codes, [403, 403, 403, 403, 403, 429, 429]);
  } finally {
    port = p;
    await new Promise((r) => limited.close(r));
  }
});
