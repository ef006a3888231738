/**
 * Leak check: rounds of opening and killing proxied connections — clients that abort mid-request,
 * clients that half-close (FIN) without reading, connections that never send a byte — and the proxy's
 * open file descriptors return to their baseline after each round.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { connect, type Socket } from "node:net";
import type { WorkspaceClass } from "../../crds/types.ts";
import { clients, eventually, uniqueName, withNamespace, type Clients } from "../lib/kube.ts";
import { startOperator, type OperatorProcess } from "../lib/operator.ts";
import { startProxy, type ProxyProcess } from "../lib/proxy.ts";
import {
  createClass,
  createWorkspace,
  deleteClass,
  isReady,
  waitWorkspace,
  workspace,
} from "../lib/workspaces.ts";

const ROUNDS = 10;
const PER_ROUND = 2000;
const BATCH = 500;

let c: Clients;
let ns: { name: string; drop: () => Promise<void> };
let op: OperatorProcess;
let px: ProxyProcess;
const echo = uniqueName("echo-leak");

before(async () => {
  c = clients();
  ns = await withNamespace(c, "proxy-leak");
  const cls: WorkspaceClass = {
    apiVersion: "portico.dev/v1alpha1",
    kind: "WorkspaceClass",
    metadata: { name: echo },
    spec: { image: "portico.dev/test/http-echo:1", port: 8080, storage: { size: "1Gi" }, readinessPath: "/" },
  };
  await createClass(c, cls);
  op = await startOperator(["--lease-name=proxy-leak"], "proxy-leak-operator");
  // Keep-alive sockets (client and upstream) idle for 1 s are closed, so the baseline comes back quickly.
  px = await startProxy({
    address: "198.18.0.23",
    port: 8080,
    name: "proxy-leak",
    flags: ["--idle-timeout=1s", "--keep-alive-timeout=1s", "--log-level=warn"],
  });
  await createWorkspace(c, workspace(ns.name, "echo", { className: echo }));
  await waitWorkspace(c, ns.name, "echo", "Ready", isReady, 60_000);
});

after(async () => {
  await px?.stop();
  await op?.stop();
  await ns?.drop();
  await deleteClass(c, echo);
});

const fds = () => readdirSync(`/proc/${px.proc.pid}/fd`).length;

/** One connection, killed in one of three ways; resolves once the socket is gone on our side. */
function oneConnection(kind: number, host: string): Promise<void> {
  return new Promise((resolve) => {
    const s: Socket = connect(px.port, px.address);
    s.on("error", () => undefined);
    s.on("close", () => resolve());
    s.once("connect", () => {
      if (kind === 0) {
        // Abort mid-request: headers promise a body that never comes.
        s.write(`POST /upload HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 100000\r\n\r\n0123456789`);
        setTimeout(() => s.destroy(), 20);
      } else if (kind === 1) {
        // Half-open: a whole request, then FIN, and never read the answer.
        s.pause();
        s.end(`GET /half HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
        setTimeout(() => s.destroy(), 50);
      } else {
        // Connect and say nothing, then vanish.
        setTimeout(() => s.destroy(), 20);
      }
    });
  });
}

test(`${ROUNDS} rounds of ${PER_ROUND} killed connections: open fds return to baseline`, async () => {
  const host = px.hostFor(ns.name, "echo");
  // Warm up (the upstream agent, the logger), then let idle sockets expire for the baseline.
  assert.equal(await rawGet(host, "/warm-up"), 200);
  await new Promise((r) => setTimeout(r, 3000));
  const baseline = fds();
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < PER_ROUND; i += BATCH)
      await Promise.all(Array.from({ length: BATCH }, (_, j) => oneConnection((i + j) % 3, host)));
    await eventually(
      `round ${round}: proxy fds back to baseline ${baseline} (now ${fds()})`,
      async () => (fds() <= baseline + 2 ? true : undefined),
      15_000,
      250,
    );
  }
  assert.equal(await rawGet(host, "/after"), 200, "still serving");
});

/** GET on a fresh connection with a chosen Host; resolves with the status code. */
function rawGet(host: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = connect(px.port, px.address);
    s.on("error", reject);
    s.on("data", (d) => {
      resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(String(d))?.[1] ?? 0));
      s.destroy();
    });
    s.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
}
