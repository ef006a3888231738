/**
 * The resource views' HTTP glue on a real local server: a refused query is answered 400 before the
 * cluster is asked anything; answers are JSON and never cached; an unexpected failure is a 500 with a
 * message, not a hung request.
 */
import assert from "node:assert/strict";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import type { Logger } from "../../common/runtime/log.ts";
import type { Identity } from "../auth/identity.ts";
import { parseTarget } from "../routing/path.ts";
import type { RequestCtx } from "../surfaces/surface.ts";
import type { ClusterClient } from "./cluster-client.ts";
import { resourcesEndpoint } from "./resources.ts";

const calls: string[] = [];
let broken = false;
const cluster: ClusterClient = {
  async get(path) {
    calls.push(`GET ${path}`);
    if (broken) throw new TypeError("a bug, not a network fault");
    return { status: 200, body: { items: [{ metadata: { name: "c1", namespace: "a" }, data: { k: "v" } }] } };
  },
  async post(path) {
    calls.push(`POST ${path}`);
    return { status: 201, body: { status: { allowed: true } } };
  },
};
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
const who: Identity = { user: "alice", groups: [], roles: [], via: "bearer" };
let server: Server;
let port = 0;

before(async () => {
  const endpoint = resourcesEndpoint({
    config: { secrets: false, revealSecrets: false, rbacUserPrefix: "", rbacGroupPrefix: "" },
    cluster,
    log: quiet,
  });
  server = createServer((req, res) => endpoint(req, res, parseTarget(req.url!), who, {} as RequestCtx));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
after(() => new Promise<void>((r) => server.close(() => r())));

interface Answer {
  status: number;
  headers: Record<string, unknown>;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- test assertions read into it freely
}

function get(path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    request({ host: "127.0.0.1", port, path }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += String(d)));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, json: JSON.parse(body) }));
    })
      .on("error", reject)
      .end();
  });
}

test("a refused query is 400 before the cluster is asked", async () => {
  for (const path of [
    "/api/resources/nodes",
    "/api/resources/pods?ns=a,b",
    "/api/resource/pods/x?ns=a&x=1",
  ]) {
    const a = await get(path);
    assert.equal(a.status, 400, path);
    assert.match(a.json.error, /^bad_/);
  }
  assert.deepEqual(calls, []);
});

test("an answer: JSON, no-store, asked as the caller first", async () => {
  const a = await get("/api/resources/configmaps?ns=a");
  assert.equal(a.status, 200);
  assert.equal(a.headers["cache-control"], "no-store");
  assert.deepEqual(a.json.items[0].data, { k: "v" });
  assert.deepEqual(calls, [
    "POST /apis/authorization.k8s.io/v1/subjectaccessreviews",
    "GET /api/v1/namespaces/a/configmaps",
  ]);
  const off = await get("/api/resources/secrets?ns=a");
  assert.equal(off.status, 404);
  assert.equal(off.json.error, "not_served");
});

test("a failure that is not the cluster's is still answered: 503 with what to do", async () => {
  broken = true;
  const a = await get("/api/resources/pods?ns=a");
  assert.equal(a.status, 503);
  assert.equal(a.json.error, "unavailable");
  assert.match(a.json.message, /retry/);
});
