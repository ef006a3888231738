/**
 * Bad input against the console's /ws/watch (issue 14's bad-input table, the watch's rows): what a
 * careless or hostile client would send — unknown channels, malformed, binary and oversized frames,
 * another user's namespace, namespace and id injection, duplicate ids, too many subscriptions,
 * floods, a foreign Origin, no credentials, a workspace host — each refused cleanly: the error code
 * (or the upgrade's status, the socket never opening), then the connection or the proxy unharmed (a
 * ping answered on the same socket when it stays, a fresh socket's snapshot otherwise), and proof
 * that nothing of the victim's reached the attacker: no frame bob got names alice's namespace or
 * workspaces, while alice's own watch, open alongside, saw them change.
 *
 * Real parts: the cluster and operator, the OpenID provider (bearer tokens), the proxy under the
 * chart's RBAC.
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { CLOSE } from "../../proxy/console/protocol.ts";
import { api, userNamespaces } from "../lib/api-client.ts";
import { uniqueName } from "../lib/kube.ts";
import { startOidcProvider, type OidcProvider } from "../lib/oidc.ts";
import { startProxy, type ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";
import { consoleProxyFlags, openWatch, UpgradeRefused, type WatchClient } from "../lib/watch-client.ts";
import { tinyClass } from "../lib/workspaces.ts";

const PROVIDER = "198.18.0.186";
const PROXY = "198.18.0.187";
const PUBLIC = "http://portico.test:8080";
const MAX_SUBSCRIPTIONS = 3;

const suite = clusterSuite("attacks-console-watch", { classes: { tiny: tinyClass } });
const prefix = uniqueName("acw");
const nsOf = (user: string) => `${prefix}-${user}`;
let idp: OidcProvider;
let px: ProxyProcess;
const tokens = new Map<string, string>();
/** alice's own watch: proof her changes happened while bob attacked. */
let victimWatch: WatchClient;
/** Every frame any of bob's sockets got. */
const bobFrames: unknown[] = [];

before(async () => {
  await suite.ready();
  await userNamespaces(suite, prefix, ["alice", "bob"]);
  idp = await startOidcProvider({
    address: PROVIDER,
    port: 9000,
    redirectUris: [`${PUBLIC}/__portico/auth/callback`],
    name: "attacks-console-watch-oidc",
  });
  suite.onTeardown(() => idp.stop());
  px = await startProxy({
    address: PROXY,
    port: 8080,
    name: "attacks-console-watch-proxy",
    flags: [...consoleProxyFlags(idp, PUBLIC, prefix), `--console-max-subscriptions=${MAX_SUBSCRIPTIONS}`],
  });
  suite.onTeardown(() => px.stop());
  for (const user of ["alice", "bob"]) tokens.set(user, (await idp.tokensFor(user)).accessToken);
  victimWatch = await openWatch(px, { token: tokens.get("alice")! });
  victimWatch.send({ type: "subscribe", id: "v", channel: "workspaces" });
  await createAs("alice", "victim");
  await victimWatch.until("the victim", () =>
    victimWatch.changes("v").some((ch) => ch.object.name === "victim"),
  );
});

async function createAs(user: string, name: string): Promise<void> {
  const made = await api(px, {
    method: "POST",
    path: "/api/v1/workspaces",
    token: tokens.get(user)!,
    body: { className: suite.cls.tiny, name, running: false },
  });
  assert.equal(made.status, 201, made.body);
}

/** bob's socket, every frame kept for the final leak check. */
async function bob(o: Parameters<typeof openWatch>[1] = {}): Promise<WatchClient> {
  const w = await openWatch(px, { token: tokens.get("bob")!, ...o });
  w.ws.on("message", (d) => bobFrames.push(String(d)));
  return w;
}

/** The socket still answers: an application ping gets its pong. */
async function stillServes(w: WatchClient): Promise<void> {
  const before = w.frames.length;
  w.send({ type: "ping" });
  await w.until("pong", () => w.frames.slice(before).some((f) => f.type === "pong"));
}

/** The proxy still serves a new watch: a fresh socket gets a snapshot of bob's own. */
async function proxyServes(): Promise<void> {
  const w = await bob();
  w.send({ type: "subscribe", id: "check", channel: "workspaces" });
  await w.until("a snapshot", () => w.frames.find((f) => f.type === "snapshot"));
  w.close();
}

interface Row {
  attack: string;
  /** Sends the attack on bob's socket `w` and checks the refusal. */
  run(w: WatchClient): Promise<void>;
  /** "stays": the same socket still answers; "closed": with this code (then a fresh socket works). */
  after: "stays" | number;
}

/** One bad frame: an `error` frame with `code` comes back. */
const refused =
  (frame: unknown, code: string, binary = false) =>
  async (w: WatchClient): Promise<void> => {
    const before = w.frames.length;
    if (binary) w.ws.send(Buffer.from(String(frame)), { binary: true });
    else w.send(frame);
    const got = await w.until("an error frame", () => w.frames.slice(before).find((f) => f.type === "error"));
    assert.equal(got.type === "error" && got.code, code, JSON.stringify(got));
  };

const sub = (extra: Record<string, unknown>) => ({
  type: "subscribe",
  id: "x",
  channel: "workspaces",
  ...extra,
});

const ROWS: Row[] = [
  {
    attack: "an unknown channel (secrets)",
    run: refused(sub({ channel: "secrets" }), "unknown_channel"),
    after: "stays",
  },
  { attack: "malformed JSON", run: refused('{"type": "subscribe", ', "bad_frame"), after: "stays" },
  { attack: "a JSON array", run: refused("[]", "bad_frame"), after: "stays" },
  { attack: "a binary frame", run: refused('{"type":"ping"}', "bad_frame", true), after: "stays" },
  {
    attack: "an oversized frame (8 KiB)",
    run: refused({ type: "ping", pad: "x".repeat(8192) }, "bad_frame"),
    after: "stays",
  },
  {
    attack: "an unknown field (labelSelector)",
    run: refused(sub({ labelSelector: "a=b" }), "bad_frame"),
    after: "stays",
  },
  ...["a/b", "..", "../kube-system", "a,b", "app=x", "app in (x)", "*", "Kube-System", ""].map(
    (namespace): Row => ({
      attack: `namespace injection ${JSON.stringify(namespace)}`,
      run: refused(sub({ namespace }), "bad_frame"),
      after: "stays",
    }),
  ),
  ...["", "a".repeat(65), "a b", "../x", "<script>", 7].map((id): Row => ({
    attack: `a bad subscription id ${JSON.stringify(id)}`,
    run: refused(sub({ id }), "bad_frame"),
    after: "stays",
  })),
  {
    attack: "a forged resourceVersion (not an integer)",
    run: refused(sub({ resourceVersion: "1; drop" }), "bad_frame"),
    after: "stays",
  },
  {
    attack: "unsubscribing an id it never had",
    run: refused({ type: "unsubscribe", id: "nope" }, "not_found"),
    after: "stays",
  },
  {
    attack: "a duplicate subscription id",
    run: async (w) => {
      w.send(sub({ id: "dup" }));
      await w.until("the first snapshot", () => w.frames.find((f) => f.type === "snapshot"));
      await refused(sub({ id: "dup", channel: "pods" }), "duplicate_id")(w);
    },
    after: "stays",
  },
  {
    attack: "another user's namespace, fresh and as a resume from version 1",
    run: async (w) => {
      w.send(sub({ id: "theirs", namespace: nsOf("alice") }));
      w.send({ type: "subscribe", id: "theirs-pods", channel: "pods", namespace: nsOf("alice") });
      w.send(sub({ id: "resume", namespace: nsOf("alice"), resourceVersion: "1" }));
      await w.until("three snapshots", () => w.frames.filter((f) => f.type === "snapshot").length === 3);
      for (const f of w.frames) if (f.type === "snapshot") assert.deepEqual(f.items, [], JSON.stringify(f));
      // alice changes hers while bob watches her namespace: her watch sees it, his gets nothing.
      await createAs("alice", "during-attack");
      await victimWatch.until("her change", () =>
        victimWatch.changes("v").some((ch) => ch.object.name === "during-attack"),
      );
      await stillServes(w);
      assert.ok(
        !w.frames.some((f) => f.type === "changes" && f.changes.length > 0),
        JSON.stringify(w.frames),
      );
    },
    after: "stays",
  },
  {
    attack: "a resume from the future (a huge resourceVersion)",
    run: async (w) => {
      w.send(sub({ id: "future", resourceVersion: "999999999999999" }));
      const f = await w.until("the answer", () =>
        w.frames.find((x) => x.type === "changes" || x.type === "snapshot"),
      );
      assert.ok(f.type === "changes" && f.changes.length === 0, JSON.stringify(f));
    },
    after: "stays",
  },
  {
    attack: `more than ${MAX_SUBSCRIPTIONS} subscriptions`,
    run: async (w) => {
      for (let i = 0; i <= MAX_SUBSCRIPTIONS; i++) w.send(sub({ id: `s${i}` }));
      await w.until("too_many", () => w.frames.find((f) => f.type === "error" && f.code === "too_many"));
    },
    after: CLOSE.policy,
  },
  {
    attack: "a subscribe/unsubscribe flood",
    run: async (w) => {
      for (let i = 0; i < 300 && w.ws.readyState === w.ws.OPEN; i++) {
        w.send(sub({ id: `f${i}` }));
        w.send({ type: "unsubscribe", id: `f${i}` });
      }
    },
    after: CLOSE.policy,
  },
  {
    attack: "a stream of bad frames",
    run: async (w) => {
      for (let i = 0; i < 30 && w.ws.readyState === w.ws.OPEN; i++) w.send("garbage");
    },
    after: CLOSE.policy,
  },
];

describe("/ws/watch frames", () => {
  for (const row of ROWS)
    test(`${row.attack} → ${row.after === "stays" ? "refused, the socket stays" : `closed ${row.after}`}`, async () => {
      const w = await bob();
      await row.run(w);
      if (row.after === "stays") await stillServes(w);
      else assert.equal(await w.closed, row.after);
      w.close();
      await proxyServes();
    });
});

/** An upgrade that must be refused before the handshake: its status, the socket never open. */
async function upgradeRefused(o: Parameters<typeof openWatch>[1]): Promise<UpgradeRefused> {
  const err = await openWatch(px, o).then(
    (w) => {
      w.close();
      throw new Error("the socket opened");
    },
    (e: unknown) => e,
  );
  assert.ok(err instanceof UpgradeRefused, String(err));
  return err;
}

describe("/ws/watch upgrades", () => {
  test("a foreign Origin (a workspace's page, another site) → 403, the socket never opens", async () => {
    for (const origin of [
      "http://evil.example",
      `http://victim--${nsOf("alice")}.portico.test:8080`,
      "null",
    ]) {
      const r = await upgradeRefused({ token: tokens.get("bob")!, origin });
      assert.equal(r.status, 403, origin);
    }
    await proxyServes();
  });

  test("no credentials, or a forged token → 401", async () => {
    assert.equal((await upgradeRefused({})).status, 401);
    assert.equal((await upgradeRefused({ token: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9." })).status, 401);
    await proxyServes();
  });

  test("a workspace host instead of the base domain: not the console's (the workspace's own access rules refuse bob)", async () => {
    const host = `victim--${nsOf("alice")}.portico.test:8080`;
    const r = await upgradeRefused({ token: tokens.get("bob")!, host, origin: `http://${host}` });
    assert.ok([403, 404, 503].includes(r.status), `${r.status} ${r.body}`);
    assert.doesNotMatch(r.body, /snapshot|"items"/);
    await proxyServes();
  });
});

test("nothing of alice's reached any of bob's sockets", () => {
  const all = bobFrames.join("\n");
  assert.ok(bobFrames.length > 40, `bob's sockets got frames (${bobFrames.length})`);
  for (const secret of [nsOf("alice"), "victim", "during-attack", '"owner":"alice"'])
    assert.ok(!all.includes(secret), `${secret} reached bob`);
  // Her own watch saw both of hers: the proof above is not a quiet cluster's.
  const hers = new Set(victimWatch.changes("v").map((ch) => ch.object.name));
  assert.ok(hers.has("victim") && hers.has("during-attack"));
});
