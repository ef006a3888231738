/**
 * The console's per-user caps (issue 14, item 7), against the real cluster, operator, OpenID provider
 * and a real workspace pod: a user who opens more /ws/watch, /ws/logs or /ws/shell sockets than the
 * proxy's caps allow gets 429 before the handshake (no socket, nothing asked of the cluster), another
 * user is not affected by it, and closing one of the user's own sockets lets the next one in.
 *
 * Caps here: --console-max-watches=2, --console-max-log-streams=1, --console-max-shells=1 (the
 * defaults are 8, 8 and 4: docs/configuration.md). The caps count per proxy replica.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { LOGS_PATH, SHELL_PATH, WATCH_PATH } from "../../proxy/console/protocol.ts";
import {
  isSocket,
  mustOpen,
  openConsole,
  podSubresourceRequests,
  type ConsoleSocket,
} from "../lib/console-socket.ts";
import { startOidcProxy, type OidcProvider } from "../lib/oidc.ts";
import type { ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";
import { tinyClass } from "../lib/workspaces.ts";

const PROVIDER = "198.18.0.200";
const PROXY = "198.18.0.201";
const PUBLIC = "http://portico.test:8080";

const suite = clusterSuite("attacks-console-limits", {
  classes: { tiny: tinyClass },
  workspaces: [
    { name: "mallory-ws", class: "tiny", owner: "bob" },
    { name: "alice-ws", class: "tiny", owner: "alice" },
  ],
});
let idp: OidcProvider;
let px: ProxyProcess;
const token = new Map<string, string>();

before(async () => {
  await suite.ready();
  ({ idp, px } = await startOidcProxy(suite, {
    name: "attacks-console-limits",
    provider: PROVIDER,
    proxy: PROXY,
    publicUrl: PUBLIC,
    flags: [
      `--api-namespace=${suite.ns}`,
      "--rate-limit-ip=0",
      "--rate-limit-user=0",
      "--console-max-watches=2",
      "--console-max-log-streams=1",
      "--console-max-shells=1",
    ],
  }));
  for (const user of ["alice", "bob"]) token.set(user, (await idp.tokensFor(user)).accessToken);
});

/** Opens `path` as `user` and expects the cap's 429 (nothing opened). */
async function capped(path: string, user: string): Promise<void> {
  const r = await openConsole(px, path, { token: token.get(user)! });
  if (isSocket(r)) {
    await r.close();
    assert.fail(`${path}: a socket past the cap opened for ${user}`);
  }
  assert.equal(r.status, 429, JSON.stringify(r.body));
  assert.equal(r.body.error, "rate_limited");
  assert.match(r.body.message ?? "", new RegExp(`console .* connections for ${user}`));
}

const rows: {
  what: string;
  path: (user: string) => string;
  cap: number;
  ready: (s: ConsoleSocket) => Promise<unknown>;
}[] = [
  {
    what: "/ws/watch",
    path: () => WATCH_PATH,
    cap: 2,
    ready: async (s) => {
      s.sendJson({ type: "ping" });
      return s.until("pong", () => s.frames.find((f) => f.type === "pong"));
    },
  },
  {
    what: "/ws/logs",
    path: (user) => `${LOGS_PATH}?workspace=${suite.ns}/${user === "bob" ? "mallory-ws" : "alice-ws"}&tail=1`,
    cap: 1,
    ready: (s) => s.until("following", () => s.frames.find((f) => f.type === "status")),
  },
  {
    what: "/ws/shell",
    path: (user) => `${SHELL_PATH}?workspace=${suite.ns}/${user === "bob" ? "mallory-ws" : "alice-ws"}`,
    cap: 1,
    ready: (s) => s.until("ready", () => s.frames.find((f) => f.type === "ready")),
  },
];

for (const row of rows)
  test(`attack: bob opens more ${row.what} sockets than his cap (${row.cap}) → 429, alice unaffected, a closed one frees a place`, async () => {
    const held: ConsoleSocket[] = [];
    for (let i = 0; i < row.cap; i++) {
      const s = await mustOpen(px, row.path("bob"), { token: token.get("bob")! });
      await row.ready(s);
      held.push(s);
    }
    const kind = row.what === "/ws/shell" ? "exec" : "log";
    const before = row.what === "/ws/watch" ? undefined : await podSubresourceRequests(kind);
    await capped(row.path("bob"), "bob");
    await capped(row.path("bob"), "bob");
    if (before)
      assert.equal(
        (await podSubresourceRequests(kind)).total,
        before.total,
        `no ${kind} request reached the API server for the refused sockets`,
      );
    // The cap is bob's: alice opens hers as usual.
    const hers = await mustOpen(px, row.path("alice"), { token: token.get("alice")! });
    await row.ready(hers);
    await hers.close();
    // One of bob's closes: the next one opens; the held ones still work.
    await held.shift()!.close();
    const next = await mustOpen(px, row.path("bob"), { token: token.get("bob")! });
    await row.ready(next);
    for (const s of [...held, next]) await s.close();
  });
