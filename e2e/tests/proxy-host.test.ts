/**
 * The proxy in host mode (`{name}--{namespace}.portico.test`, the default) against the real cluster:
 * a real Jupyter Server with a kernel over WebSocket, the gateway's credentials kept from a backend
 * that echoes what it receives, and a table of bad requests each answered with its code while the
 * proxy keeps serving everyone else.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { connect } from "node:net";
import { jupyterExecute, startProxy, type ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";
import { echoClass, jupyterClass } from "../lib/workspaces.ts";

const ADDRESS = "198.18.0.22";
const suite = clusterSuite("proxy-host", {
  classes: { jupyter: jupyterClass, echo: echoClass },
  workspaces: [
    { name: "echo", class: "echo", readyTimeoutMs: 60_000 },
    { name: "nb", class: "jupyter" },
  ],
});
let px: ProxyProcess;

before(async () => {
  await suite.ready();
  px = await startProxy({
    address: ADDRESS,
    port: 8080,
    name: "proxy-host",
    flags: ["--max-body-bytes=1Mi", "--max-header-bytes=16Ki", "--headers-timeout=2s"],
  });
  suite.onTeardown(() => px.stop());
});

/** A GET with a chosen Host header; resolves with status and body. */
function get(
  host: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${px.url}${path}`, { headers: { host, ...headers } }, (res) => {
      let body = "";
      res.on("data", (d) => (body += String(d)));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Raw bytes to the proxy; resolves with the first status code it answered (0: closed silently) and how long it took. */
function raw(text: string | Buffer[], waitMs = 6000): Promise<{ status: number; ms: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = connect(px.port, px.address);
    let out = "";
    const done = () =>
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? 0), ms: Date.now() - t0 });
    s.on("data", (d) => {
      out += String(d);
      if (/^HTTP\/1\.1 \d{3}/.test(out)) s.destroy();
    });
    s.on("error", done);
    s.on("close", done);
    for (const part of Array.isArray(text) ? text : [text]) s.write(part);
    setTimeout(() => s.destroy(), waitMs).unref();
  });
}

test("a Jupyter workspace on its own host: /api and a kernel computing 1+1 over WebSocket", async () => {
  const host = px.hostFor(suite.ns, "nb");
  const api = await get(host, "/api");
  assert.equal(api.status, 200, api.body);
  assert.ok((JSON.parse(api.body) as { version?: string }).version);
  assert.equal(await jupyterExecute(px, "", "1+1", host), "2");
  // Another workspace's host reaches that workspace, not this one; an unknown one, nothing.
  assert.equal(
    (JSON.parse((await get(px.hostFor(suite.ns, "echo"), "/x")).body) as { server: string }).server,
    "http-echo",
  );
  assert.equal((await get(px.hostFor(suite.ns, "nope"), "/api")).status, 404);
});

test("the gateway's Authorization and session cookie never reach the workspace; Host arrives as sent", async () => {
  const host = px.hostFor(suite.ns, "echo");
  const res = await get(host, "/whoami?x=1", {
    authorization: "Bearer gateway-token",
    cookie: "portico_session=gateway-session; ide_cookie=keep",
  });
  assert.equal(res.status, 200);
  const seen = JSON.parse(res.body) as { url: string; headers: Record<string, string> };
  assert.equal(seen.url, "/whoami?x=1");
  assert.equal(seen.headers.authorization, undefined);
  assert.equal(seen.headers.cookie, "ide_cookie=keep");
  assert.equal(seen.headers.host, host, "Host kept, port included");
  assert.equal(seen.headers["x-forwarded-host"], host);
  assert.equal(seen.headers["x-forwarded-proto"], "http");
  assert.ok(seen.headers["x-forwarded-for"]);
  assert.ok(!JSON.stringify(seen).includes("gateway-"), "no trace of the gateway's credentials");
});

test("bad requests get their codes while the proxy keeps serving others", async () => {
  const host = px.hostFor(suite.ns, "echo");
  const key = "dGhlIHNhbXBsZSBub25jZQ==";
  const req = (line: string, headers = `Host: ${host}\r\n`) =>
    `${line}\r\n${headers}Connection: close\r\n\r\n`;
  const upgrade = (path: string, h: string, extra: string) =>
    `GET ${path} HTTP/1.1\r\nHost: ${h}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n${extra}\r\n`;
  const table: [string, string | Buffer[], number][] = [
    ["dot-dot", req("GET /a/../../etc/passwd HTTP/1.1"), 400],
    ["encoded dot-dot", req("GET /a/%2e%2e/%2E%2E/etc/passwd HTTP/1.1"), 400],
    ["half-encoded dot-dot", req("GET /a/.%2e/b HTTP/1.1"), 400],
    ["double slash", req("GET //etc/passwd HTTP/1.1"), 400],
    ["encoded slash", req("GET /a%2f..%2fb HTTP/1.1"), 400],
    ["encoded backslash", req("GET /a%5c..%5cb HTTP/1.1"), 400],
    ["absolute-form target", req("GET http://evil.example/ HTTP/1.1"), 400],
    ["huge headers", req("GET / HTTP/1.1", `Host: ${host}\r\nX-Big: ${"a".repeat(20_000)}\r\n`), 431],
    ["huge declared body", req("POST /up HTTP/1.1", `Host: ${host}\r\nContent-Length: ${2 << 20}\r\n`), 413],
    ["TRACE", req("TRACE / HTTP/1.1"), 405],
    ["CONNECT", req("CONNECT evil.example:443 HTTP/1.1", "Host: evil.example:443\r\n"), 405],
    ["malformed Host", req("GET / HTTP/1.1", "Host: bad host\r\n"), 400],
    ["Host with a path", req("GET / HTTP/1.1", "Host: evil/../x\r\n"), 400],
    ["no Host", req("GET / HTTP/1.1", ""), 400],
    ["unknown route", req("GET / HTTP/1.1", `Host: ${px.hostFor(suite.ns, "nope")}\r\n`), 404],
    [
      "upgrade, unknown route",
      upgrade(
        "/",
        px.hostFor(suite.ns, "nope"),
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n`,
      ),
      404,
    ],
    [
      "upgrade, bad key",
      upgrade("/", host, "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n"),
      400,
    ],
    ["upgrade, no key", upgrade("/", host, "Sec-WebSocket-Version: 13\r\n"), 400],
    [
      "upgrade, old version",
      upgrade("/", host, `Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: ${key}\r\n`),
      426,
    ],
    [
      "upgrade, traversal",
      upgrade("/%2e%2e/", host, `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n`),
      400,
    ],
  ];
  for (const [what, bytes, want] of table) {
    const got = await raw(bytes);
    assert.equal(got.status, want, `${what}: got ${got.status}, want ${want}`);
    assert.equal((await get(host, "/still-serving")).status, 200, `still serving after ${what}`);
  }
});

test("a streamed body past the limit gets 413; slow headers are cut off with 408", async () => {
  const host = px.hostFor(suite.ns, "echo");
  // Jupyter reads a whole upload before it answers, so the limit is what answers first.
  const chunk = Buffer.alloc(256 * 1024, 97);
  const head = Buffer.from(
    `PUT /api/contents/big.txt HTTP/1.1\r\nHost: ${px.hostFor(suite.ns, "nb")}\r\nTransfer-Encoding: chunked\r\n\r\n`,
  );
  const parts = [head];
  for (let i = 0; i < 8; i++)
    parts.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n"));
  assert.equal((await raw(parts)).status, 413);

  const slow = await raw(`GET / HTTP/1.1\r\nHost: ${host}\r\nX-Slow: 1\r\n`, 10_000);
  assert.equal(slow.status, 408);
  assert.ok(slow.ms < 5000, `cut off after ${slow.ms} ms (headers timeout 2 s)`);
  assert.equal((await get(host, "/still-serving")).status, 200);
});
