/**
 * Attacks on the WebSocket relay and the per-user connection caps, against the real cluster, the
 * real proxy (`--auth=jwt`, tokens from the real OpenID provider) and real Jupyter Servers behind.
 *
 * Carol owns one Jupyter workspace and attacks through it (or through a GatewayRoute, or the
 * status streams); bob, the victim, owns another. Each row states what the attacker sends, what the
 * proxy answers, and proves that nothing reached bob: his kernel list is what it was, and he is
 * still served (a `1+1` on a real kernel over a proxied WebSocket, or his own status stream or
 * gateway WebSocket). Memory rows read the proxy's RSS from /proc while the attack runs.
 *
 * Carol's Jupyter takes messages up to 256 MiB (tornado's `websocket_max_message_size`; its own
 * default is 10 MiB), so what bounds the proxy's memory in the unfinished-message row is the relay
 * itself: the old relay (`ws` on both sides, whole messages) held every fragment of a message that
 * never ends.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { request, type IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";
import { WebSocket } from "ws";
import { API_VERSION, GATEWAY_ROUTE, GROUP, VERSION, type GatewayRoute } from "../../crds/types.ts";
import { FrameReader, OP_PING, OP_PONG, controlFrame } from "../../proxy/http/frames.ts";
import { eventually } from "../lib/kube.ts";
import { startAuthStack, jwtFlags } from "../lib/auth-stack.ts";
import type { OidcProvider } from "../lib/oidc.ts";
import { executeContent, shellRequest } from "../lib/jupyter-state.ts";
import { jupyterExecute, type ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";
import { jupyterClass } from "../lib/workspaces.ts";

const PROXY = "198.18.0.111";
const PROVIDER = "198.18.0.112";
const AUDIENCE = "portico";
const GW_HOST = "ws.gw.test";
/** Open WebSockets and status streams per user (--max-connections-per-user). */
const CAP = 3;
/** WebSocket message cap (--max-body-bytes): above the unfinished message the streaming row sends. */
const MESSAGE_CAP = 80 * 1024 * 1024;
/** The proxy's RSS may rise this much under one attack (the old relay: the whole message). */
const RSS_BOUND = 24 * 1024 * 1024;

const suite = clusterSuite("attacks-ws", {
  classes: {
    // Jupyter as the e2e class, taking messages up to 256 MiB (its default would cut at 10 MiB).
    jupyter: (name: string) => {
      const cls = jupyterClass(name);
      cls.spec.args = [
        ...(cls.spec.args ?? []),
        '--ServerApp.tornado_settings={"websocket_max_message_size": 268435456}',
        // No output rate limit either: the slow-reader row floods for real.
        "--ServerApp.limit_rate=False",
      ];
      return cls;
    },
  },
  workspaces: [
    { name: "mal", class: "jupyter", owner: "carol" },
    { name: "bob", class: "jupyter", owner: "bob" },
  ],
});
const c = suite.c;
let px: ProxyProcess;
let idp: OidcProvider;

before(async () => {
  ({ idp, px } = await startAuthStack(suite, { address: PROVIDER, name: "attacks-ws-oidc" }, (op) => ({
    address: PROXY,
    port: 8080,
    name: "attacks-ws-proxy",
    flags: [
      ...jwtFlags(op, AUDIENCE),
      "--rate-limit-ip=0",
      "--rate-limit-user=0",
      `--max-connections-per-user=${CAP}`,
      `--max-body-bytes=${MESSAGE_CAP}`,
      "--ws-ping-interval=2s",
      "--log-level=warn",
    ],
  })));
  // A GatewayRoute to a WebSocket echo backend (a pod and its Service).
  await c.core.createNamespacedPod({
    namespace: suite.ns,
    body: {
      metadata: { name: "ws-echo", labels: { app: "ws-echo" } },
      spec: {
        containers: [
          { name: "echo", image: "portico.dev/test/bench-backend:1", ports: [{ containerPort: 8080 }] },
        ],
      },
    },
  });
  await c.core.createNamespacedService({
    namespace: suite.ns,
    body: {
      metadata: { name: "ws-echo" },
      spec: { selector: { app: "ws-echo" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] },
    },
  });
  const route: GatewayRoute = {
    apiVersion: API_VERSION,
    kind: GATEWAY_ROUTE.kind,
    metadata: { name: "ws-echo", namespace: suite.ns },
    spec: {
      hosts: [GW_HOST],
      rules: [
        {
          matches: [{ path: { type: "PathPrefix", value: "/" } }],
          backends: [{ service: { name: "ws-echo", port: 80 } }],
        },
      ],
    },
  };
  await c.custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: suite.ns,
    plural: GATEWAY_ROUTE.plural,
    body: route,
  });
  const bob = await token("bob");
  await eventually(
    "the gateway route echoes over WebSocket",
    async () => ((await gatewayEcho(bob)) ? true : undefined),
    60_000,
    500,
  );
});

const tokens = new Map<string, string>();
/** An access token for `user` (one per user: they outlive the file). */
async function token(user: string): Promise<string> {
  if (!tokens.has(user)) tokens.set(user, (await idp.tokensFor(user)).accessToken);
  return tokens.get(user)!;
}
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const hostOf = (name: string) => px.hostFor(suite.ns, name);

/** A call through the proxy; status, headers, body. */
function call(
  method: string,
  path: string,
  host: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: IncomingMessage["headers"]; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${px.url}${path}`, { method, headers: { ...headers, host } }, (res) => {
      let body = "";
      res.on("data", (d) => (body += String(d)));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(method === "POST" ? "{}" : undefined);
  });
}

/** Bob's kernel ids, sorted (read as bob). */
async function bobKernels(): Promise<string[]> {
  const r = await call("GET", "/api/kernels", hostOf("bob"), bearer(await token("bob")));
  assert.equal(r.status, 200, r.body);
  return (JSON.parse(r.body) as { id: string }[]).map((k) => k.id).sort();
}

/** Bob is served: `1+1` on a new kernel of his, over a proxied WebSocket. */
async function bobServed(): Promise<void> {
  assert.equal(await jupyterExecute(px, "", "1+1", hostOf("bob"), bearer(await token("bob"))), "2");
}

/** The proxy's resident memory, bytes. */
const rss = () =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${px.proc.pid}/status`, "utf8"))![1]) * 1024;

/** Samples the proxy's RSS every 20 ms until stopped; the peak. */
function watchRss(): { stop: () => number } {
  let peak = rss();
  const t = setInterval(() => (peak = Math.max(peak, rss())), 20);
  return {
    stop: () => {
      clearInterval(t);
      return Math.max(peak, rss());
    },
  };
}

/** The proxy's open WebSocket relays (its metrics). */
async function activeWebSockets(): Promise<number> {
  const text = await (await fetch(`${px.healthUrl}/metrics`)).text();
  return Number(/^portico_proxy_websockets_active (\d+)/m.exec(text)?.[1] ?? NaN);
}

/** A new kernel of carol's; its id. */
async function carolKernel(): Promise<string> {
  const r = await call("POST", "/api/kernels", hostOf("mal"), bearer(await token("carol")));
  assert.equal(r.status, 201, r.body);
  return (JSON.parse(r.body) as { id: string }).id;
}

interface Raw {
  s: Socket;
  /** Close codes in the close frames the proxy sent. */
  closes: number[];
  /** Bytes of frames read. */
  read: number;
  /** The first few KiB of data read (for a failure's message). */
  text: string;
  /** The kernel said it is idle, in any message so far (not only the first few KiB). */
  idle: boolean;
  closed: Promise<void>;
}

/** Raw sockets a row opened: closed after it, whatever happened. */
const rawSockets = new Set<Socket>();

/** A raw WebSocket to carol's kernel: the handshake by hand (Origin of her workspace), then bytes. */
async function rawKernelSocket(kernel: string): Promise<Raw> {
  const host = hostOf("mal");
  const s = connect(px.port, px.address);
  rawSockets.add(s);
  s.on("error", () => undefined);
  const closed = new Promise<void>((r) => s.once("close", () => r()));
  s.write(
    `GET /api/kernels/${kernel}/channels?session_id=attack HTTP/1.1\r\nHost: ${host}\r\nOrigin: http://${host}\r\n` +
      `Authorization: Bearer ${await token("carol")}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
  );
  const raw: Raw = { s, closes: [], read: 0, text: "", idle: false, closed };
  // The tail of the data so far: a status message may be split across reads.
  let tail = "";
  const reader = new FrameReader({ masked: false, maxMessageBytes: 2 ** 40 });
  await new Promise<void>((resolve, reject) => {
    let head = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      s.off("data", onData);
      if (!/^HTTP\/1\.1 101/.test(head.toString())) return reject(new Error(head.toString()));
      const feed = (b: Buffer) => {
        raw.read += b.length;
        for (const p of reader.push(b)) {
          if (p.kind === "data") {
            const t = p.bytes.toString("latin1");
            if (raw.text.length < 4096) raw.text += t.slice(0, 4096);
            if (
              !raw.idle &&
              `${tail}${t.length > 1 << 16 ? t.slice(0, 1 << 16) : t}`.includes('"execution_state": "idle"')
            )
              raw.idle = true;
            tail = t.slice(-64);
          }
          if (p.kind !== "control") continue;
          if (p.code) raw.closes.push(p.code);
          // Like any client library, it answers pings while it reads.
          if (p.opcode === OP_PING) s.write(controlFrame(OP_PONG, p.payload, true));
        }
      };
      s.on("data", feed);
      feed(head.subarray(end + 4));
      resolve();
    };
    s.on("data", onData);
  });
  return raw;
}

/** A client frame header, masked with a zero key (so the payload goes as it is). */
function header(opcode: number, len: number, fin: boolean, masked = true): Buffer {
  const h = Buffer.alloc(2 + (len > 0xffff ? 8 : len > 125 ? 2 : 0) + (masked ? 4 : 0));
  h[0] = (fin ? 0x80 : 0) | opcode;
  h[1] = (masked ? 0x80 : 0) | (len > 0xffff ? 127 : len > 125 ? 126 : len);
  if (len > 0xffff) {
    h.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    h.writeUInt32BE(len >>> 0, 6);
  } else if (len > 125) h.writeUInt16BE(len, 2);
  return h;
}

const write = (s: Socket, b: Buffer) =>
  new Promise<void>((resolve, reject) => s.write(b, (err) => (err ? reject(err) : resolve())));

/** A Jupyter execute_request as one masked text frame. */
function executeFrame(code: string): Buffer {
  return shellFrame("execute_request", executeContent(code));
}

/** A Jupyter shell-channel request as one masked text frame. */
function shellFrame(msgType: string, content: Record<string, unknown>): Buffer {
  const msg = Buffer.from(
    JSON.stringify(shellRequest(msgType, content, { username: "m", session: "attack" })),
  );
  return Buffer.concat([header(0x1, msg.length, true), msg]);
}

/** One WebSocket through the gateway route as `t`'s user: echoed? (false when refused). */
function gatewayEcho(t: string): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://${px.address}:${px.port}/echo`, {
      headers: { host: GW_HOST, ...bearer(t) },
      origin: `http://${GW_HOST}`,
    });
    ws.on("open", () => ws.send("ping through the gateway"));
    ws.on("message", (m) => {
      resolve(String(m) === "ping through the gateway");
      ws.close();
    });
    ws.on("unexpected-response", () => resolve(false));
    ws.on("error", () => resolve(false));
  });
}

/** Holds a connection open; `refused`: the status and JSON error when the proxy said no. */
interface Held {
  ok: boolean;
  status?: number;
  error?: string;
  retryAfter?: string;
  /** Closes it; resolves once it is closed on this side. */
  close: () => Promise<void>;
}

/** A WebSocket held open (ws answers the proxy's pings, so it stays). */
function holdWebSocket(url: string, host: string, t: string): Promise<Held> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers: { host, ...bearer(t) }, origin: `http://${host}` });
    const closed = new Promise<void>((r) => ws.once("close", () => r()));
    const close = () => {
      if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
      ws.terminate();
      return closed;
    };
    ws.on("open", () => resolve({ ok: true, close }));
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d) => (body += String(d)));
      res.on("end", () =>
        resolve({
          ok: false,
          status: res.statusCode,
          error: (JSON.parse(body) as { error: string }).error,
          retryAfter: String(res.headers["retry-after"]),
          close,
        }),
      );
    });
    ws.on("error", () => undefined);
  });
}

/** A status stream held open (200 and the first event read), or the refusal. */
function holdStream(path: string, t: string): Promise<Held> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${px.url}${path}`,
      { headers: { host: `${PROXY}:8080`, ...bearer(t), accept: "text/event-stream" } },
      (res) => {
        const closed = new Promise<void>((r) => res.once("close", () => r()));
        const close = () => {
          req.destroy();
          return closed;
        };
        if (res.statusCode !== 200) {
          let body = "";
          res.on("data", (d) => (body += String(d)));
          res.on("end", () =>
            resolve({
              ok: false,
              status: res.statusCode,
              error: (JSON.parse(body) as { error: string }).error,
              retryAfter: String(res.headers["retry-after"]),
              close,
            }),
          );
          return;
        }
        res.once("data", () => resolve({ ok: true, close }));
      },
    );
    req.on("error", (err) => (req.destroyed ? undefined : reject(err)));
    req.end();
  });
}

interface Row {
  name: string;
  /** Runs the attack, asserting the refusal inside; may return a note of what it measured. */
  attack: () => Promise<string | void>;
  /** After the attack: bob is still served (his own kind of connection). */
  victimServed: () => Promise<void>;
}

let session = 0;
/** A kernel's channels; a session of its own each time (Jupyter drops an older socket of the same session). */
const kernelWs = (kernel: string) =>
  `ws://${PROXY}:8080/api/kernels/${kernel}/channels?session_id=held-${++session}`;

/**
 * Holds CAP connections of one kind (once carol's earlier ones are all closed: until she holds CAP
 * at once), then asks for one more: refused 429 with Retry-After. All closed after.
 */
async function capRow(open: () => Promise<Held>): Promise<void> {
  let held: Held[] = [];
  try {
    await eventually(
      `carol holds ${CAP} connections at once`,
      async () => {
        await Promise.all(held.map((h) => h.close()));
        held = [];
        for (let i = 0; i < CAP; i++) held.push(await open());
        return held.every((h) => h.ok) ? true : undefined;
      },
      20_000,
      250,
    );
    const over = await open();
    held.push(over);
    assert.equal(over.ok, false, `connection ${CAP + 1} refused`);
    assert.equal(over.status, 429);
    assert.equal(over.error, "rate_limited");
    assert.equal(over.retryAfter, "5");
  } finally {
    await Promise.all(held.map((h) => h.close()));
  }
}

const rows: Row[] = [
  {
    name: "attack: an unfinished 64 MiB fragmented message -> relayed as it arrives; proxy RSS bounded (60 MiB measured)",
    attack: async () => {
      const raw = await rawKernelSocket(await carolKernel());
      const MiB = Buffer.alloc(1 << 20, 0x20);
      // The first 4 MiB warm the path up (a fresh proxy's first relay compiles its code).
      await write(raw.s, Buffer.concat([header(0x1, MiB.length, false), MiB]));
      for (let i = 1; i < 4; i++) await write(raw.s, Buffer.concat([header(0x0, MiB.length, false), MiB]));
      const before = rss();
      const watch = watchRss();
      for (let i = 4; i < 64; i++) await write(raw.s, Buffer.concat([header(0x0, MiB.length, false), MiB]));
      // Every byte taken: on loopback the kernels hold a few MiB at most, so the rest went through.
      const peak = watch.stop();
      assert.ok(
        peak - before <= RSS_BOUND,
        `proxy RSS rose ${((peak - before) / 2 ** 20).toFixed(1)} MiB for a 64 MiB message (bound ${RSS_BOUND / 2 ** 20} MiB)`,
      );
      assert.deepEqual(raw.closes, [], "not closed: the message is within the cap");
      raw.s.destroy();
      return `64 MiB sent (60 measured); proxy RSS ${(before / 2 ** 20).toFixed(1)} MiB, peak +${((peak - before) / 2 ** 20).toFixed(1)} MiB`;
    },
    victimServed: bobServed,
  },
  {
    name: "attack: a frame announcing more than the message cap -> close 1009 before a byte of it passes",
    attack: async () => {
      const raw = await rawKernelSocket(await carolKernel());
      await write(raw.s, header(0x2, MESSAGE_CAP + 1, true));
      await raw.closed;
      assert.deepEqual(raw.closes, [1009]);
    },
    victimServed: bobServed,
  },
  {
    name: "attack: an unmasked client frame -> close 1002",
    attack: async () => {
      const raw = await rawKernelSocket(await carolKernel());
      await write(raw.s, Buffer.concat([header(0x1, 2, true, false), Buffer.from("{}")]));
      await raw.closed;
      assert.deepEqual(raw.closes, [1002]);
    },
    victimServed: bobServed,
  },
  {
    name: "attack: a slow reader floods itself (kernel output it never reads) -> IDE not read past the cap; the client dropped",
    attack: async () => {
      const raw = await rawKernelSocket(await carolKernel());
      const open = await activeWebSockets();
      // The kernel answers (idle after the server's kernel_info): a request sent earlier may be lost.
      // Ask it too, every second, in case the server's own nudge was answered before we listened.
      let asked = 0;
      await eventually(
        "the kernel is idle",
        async () => {
          if (raw.idle) return true;
          if (Date.now() - asked > 1000) {
            asked = Date.now();
            await write(raw.s, shellFrame("kernel_info_request", {}));
          }
          return undefined;
        },
        60_000,
        20,
      );
      // 256 MiB of output in 1 MiB messages; once it flows, the client stops reading (and so
      // answers no ping).
      await write(raw.s, executeFrame("import sys\nfor _ in range(256): print('x' * (1 << 20), flush=True)"));
      await eventually(
        "the flood reaches the client",
        async () => (raw.read > 4 << 20 ? true : undefined),
        60_000,
        20,
      ).catch((err: Error) => {
        throw new Error(`${err.message}: ${raw.read} bytes read, starting ${raw.text.slice(0, 2000)}`);
      });
      raw.s.pause();
      const before = rss();
      const watch = watchRss();
      // It takes nothing more and answers no ping: the proxy drops it within a few ping intervals.
      await eventually(
        "the proxy drops the slow reader",
        async () => ((await activeWebSockets()) < open ? true : undefined),
        60_000,
        200,
      );
      const peak = watch.stop();
      assert.ok(
        peak - before <= RSS_BOUND,
        `proxy RSS rose ${((peak - before) / 2 ** 20).toFixed(1)} MiB under a slow reader (bound ${RSS_BOUND / 2 ** 20} MiB)`,
      );
      raw.s.destroy();
      return `${(raw.read / 2 ** 20).toFixed(1)} MiB read before pausing; proxy RSS peak +${((peak - before) / 2 ** 20).toFixed(1)} MiB until it dropped the reader`;
    },
    victimServed: bobServed,
  },
  {
    name: `attack: more than ${CAP} WebSockets to one's own workspace -> 429 rate_limited with Retry-After`,
    attack: async () => {
      const kernel = await carolKernel();
      const t = await token("carol");
      await capRow(() => holdWebSocket(kernelWs(kernel), hostOf("mal"), t));
    },
    victimServed: bobServed,
  },
  {
    name: `attack: more than ${CAP} WebSockets through a GatewayRoute -> 429 rate_limited with Retry-After`,
    attack: async () => {
      const t = await token("carol");
      await capRow(() => holdWebSocket(`ws://${PROXY}:8080/held`, GW_HOST, t));
    },
    victimServed: async () =>
      assert.ok(await gatewayEcho(await token("bob")), "bob's gateway WebSocket echoes"),
  },
  {
    name: `attack: more than ${CAP} status streams (SSE) -> 429 rate_limited with Retry-After`,
    attack: async () => {
      const t = await token("carol");
      await capRow(() => holdStream(`/api/v1/workspaces/${suite.ns}/mal/events`, t));
    },
    victimServed: async () => {
      const h = await holdStream(`/api/v1/workspaces/${suite.ns}/bob/events`, await token("bob"));
      assert.ok(h.ok, `bob's status stream: ${h.status} ${h.error}`);
      h.close();
    },
  },
];

for (const row of rows)
  test(row.name, async (t) => {
    const kernels = await bobKernels();
    let note: string | void;
    try {
      note = await row.attack();
    } finally {
      for (const s of rawSockets) s.destroy();
      rawSockets.clear();
    }
    if (note) t.diagnostic(note);
    // Nothing reached bob: no kernel of his was made or touched, and he is still served.
    assert.deepEqual(await bobKernels(), kernels, "bob's kernel list unchanged");
    await row.victimServed();
  });

test("the attack table covers the WebSocket findings", () => {
  assert.ok(rows.length >= 7);
  assert.ok(rows.every((r) => r.name.startsWith("attack: ")));
});
