/**
 * The console's /ws/logs and /ws/shell end to end (issue 14, items 3 and 4): the real cluster and
 * operator, a real workspace pod (the tiny class: Python's http.server, which logs every request it
 * serves to its output), the real OpenID provider's tokens, the real proxy under the chart's RBAC,
 * kube-apiserver's pods/log and pods/exec reaching kwok (a real TTY: creack/pty).
 *
 * - a line the test makes the IDE write (a request for a unique path) appears on /ws/logs with its
 *   timestamp; closing the socket closes the upstream log request (the proxy's gauge and the API
 *   server's own count of open pods/log requests both back to where they were);
 * - reconnecting with `since=` the last line's time brings the lines after it, none twice;
 * - /ws/shell: `echo $((6*7))` prints 42; after a resize to 100x40 `stty size` says `40 100`;
 *   closing the socket ends the shell process (it is gone from the machine) and the exec request.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { LOGS_PATH, SHELL_PATH } from "../../proxy/console/protocol.ts";
import { compareTimes } from "../../proxy/console/logs.ts";
import { mustOpen, podSubresourceRequests, type ConsoleSocket } from "../lib/console-socket.ts";
import { eventually, uniqueName } from "../lib/kube.ts";
import { startOidcProxy, type OidcProvider } from "../lib/oidc.ts";
import type { ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";
import { getWorkspace, tinyClass } from "../lib/workspaces.ts";

const PROVIDER = "198.18.0.140";
const PROXY = "198.18.0.141";
const PUBLIC = "http://portico.test:8080";

const suite = clusterSuite("console-streams", {
  classes: { tiny: tinyClass },
  workspaces: [{ name: "proj", class: "tiny", owner: "alice" }],
});
const c = suite.c;
let idp: OidcProvider;
let px: ProxyProcess;
let alice: string;
let podIp: string;
let podName: string;

before(async () => {
  await suite.ready();
  ({ idp, px } = await startOidcProxy(suite, {
    name: "console-streams",
    provider: PROVIDER,
    proxy: PROXY,
    publicUrl: PUBLIC,
    flags: [`--api-namespace=${suite.ns}`, "--rate-limit-ip=0", "--rate-limit-user=0"],
  }));
  alice = (await idp.tokensFor("alice")).accessToken;
  const ws = await getWorkspace(c, suite.ns, "proj");
  podName = ws.status!.children!.pod!;
  const pod = await c.core.readNamespacedPod({ namespace: suite.ns, name: podName });
  podIp = pod.status!.podIP!;
});

/** Makes the IDE log a line containing `marker`: http.server logs every request's path. */
function writeLine(marker: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(`http://${podIp}:8000/${marker}`, { agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve());
    });
    req.on("error", reject);
    req.end();
  });
}

const lines = (s: ConsoleSocket) =>
  s.frames.filter((f) => f.type === "line") as unknown as {
    text: string;
    time: string;
    truncated?: boolean;
  }[];

const logsPath = (extra = "") => `${LOGS_PATH}?workspace=${suite.ns}/proj${extra}`;

test("logs: a line the IDE writes appears; closing the socket closes the upstream log request", async () => {
  const before = await podSubresourceRequests("log");
  assert.equal(await px.metric("portico_console_upstream_streams", { kind: "logs" }), 0);
  const s = await mustOpen(px, logsPath("&tail=5"), { token: alice });
  await s.until("following", () => s.frames.find((f) => f.type === "status" && f.state === "following"));
  const marker = uniqueName("console-marker");
  await writeLine(marker);
  const line = await s.until(`the line with ${marker}`, () => lines(s).find((l) => l.text.includes(marker)));
  assert.match(line.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, "the kubelet's timestamp");
  assert.match(line.text, new RegExp(`"GET /${marker} HTTP/1.1" 404`), "the IDE's own words");
  const status = s.frames.find((f) => f.type === "status")!;
  assert.deepEqual([status.pod, status.container], [podName, "ide"]);
  // While it follows: one log request open, at the proxy and at the API server.
  assert.equal(await px.metric("portico_console_upstream_streams", { kind: "logs" }), 1);
  assert.equal((await podSubresourceRequests("log")).open, before.open + 1);

  await s.close();
  await eventually("the proxy's upstream log request closed", async () =>
    (await px.metric("portico_console_upstream_streams", { kind: "logs" })) === 0 ? true : undefined,
  );
  await eventually("the API server's pods/log request closed", async () =>
    (await podSubresourceRequests("log")).open === before.open ? true : undefined,
  );
});

test("logs: reconnecting with since= the last line's time brings the later lines, none twice", async () => {
  const first = await mustOpen(px, logsPath("&tail=1"), { token: alice });
  await first.until("following", () =>
    first.frames.find((f) => f.type === "status" && f.state === "following"),
  );
  const a = uniqueName("before-drop");
  await writeLine(a);
  const lineA = await first.until(a, () => lines(first).find((l) => l.text.includes(a)));
  await first.close();
  // While nobody follows, the IDE goes on logging.
  const b = uniqueName("while-away");
  await writeLine(b);
  const second = await mustOpen(px, logsPath(`&since=${encodeURIComponent(lineA.time)}`), { token: alice });
  const c2 = uniqueName("after-resume");
  await second.until("following", () =>
    second.frames.find((f) => f.type === "status" && f.state === "following"),
  );
  await writeLine(c2);
  await second.until(c2, () => lines(second).find((l) => l.text.includes(c2)));
  const got = lines(second);
  assert.equal(
    got.filter((l) => l.text.includes(a)).length,
    0,
    "the last line before the drop is not sent again",
  );
  assert.equal(got.filter((l) => l.text.includes(b)).length, 1, "the line written while away comes once");
  assert.equal(got.filter((l) => l.text.includes(c2)).length, 1);
  assert.ok(
    got.every((l) => compareTimes(l.time, lineA.time) > 0),
    "every line is after since",
  );
  await second.close();
});

/** Types `cmd` until the output matches `re` (a TTY's size arrives on its own channel: ask again). */
async function typeUntil(s: ConsoleSocket, cmd: string, re: RegExp): Promise<RegExpMatchArray> {
  return eventually(
    `${cmd.trim()} → ${re}`,
    async () => {
      s.sendJson({ type: "stdin", data: cmd });
      return s.until(`${re}`, () => s.output().match(re) ?? undefined, 2_000).catch(() => undefined);
    },
    60_000,
    0,
  );
}

test("shell: echo $((6*7)) prints 42; resize to 100x40 and stty size agrees; closing the socket ends the shell", async () => {
  const before = await podSubresourceRequests("exec");
  const s = await mustOpen(px, `${SHELL_PATH}?workspace=${suite.ns}/proj`, { token: alice });
  const ready = await s.until("ready", () => s.frames.find((f) => f.type === "ready"));
  assert.deepEqual([ready.pod, ready.container], [podName, "ide"]);
  s.sendJson({ type: "resize", cols: 100, rows: 40 });
  s.sendJson({ type: "stdin", data: "echo $((6*7))\n" });
  // The typed line echoes as `$((6*7))`: only the shell's arithmetic prints 42 on a line of its own.
  await s.until("42", () => /[\r\n]42\r?\n/.exec(s.output()) ?? undefined);
  await typeUntil(s, "stty size\n", /[\r\n]40 100\r?\n/);
  const pid = Number((await typeUntil(s, "echo PID=$$\n", /[\r\n]PID=(\d+)\r?\n/))[1]);
  assert.ok(pid > 1);
  assert.equal(alive(pid), true, "the shell runs");
  assert.equal(await px.metric("portico_console_upstream_streams", { kind: "shell" }), 1);
  assert.equal(
    (await podSubresourceRequests("exec")).open,
    before.open + 1,
    "one exec open at the API server",
  );

  await s.close();
  await eventually(`the shell (pid ${pid}) gone`, async () => (alive(pid) ? undefined : true), 60_000);
  await eventually("the exec request closed", async () => {
    const now = await podSubresourceRequests("exec");
    const proxy = await px.metric("portico_console_upstream_streams", { kind: "shell" });
    return now.open === before.open && proxy === 0 ? true : undefined;
  });
  // The shell, and the plain exec that hung it up.
  assert.equal((await podSubresourceRequests("exec")).total, before.total + 2);
});

test("shell: exit ends the session with an exit frame carrying the code", async () => {
  const s = await mustOpen(px, `${SHELL_PATH}?workspace=${suite.ns}/proj`, { token: alice });
  await s.until("ready", () => s.frames.find((f) => f.type === "ready"));
  s.sendJson({ type: "stdin", data: "exit 3\n" });
  const exit = await s.until("exit", () => s.frames.find((f) => f.type === "exit"));
  assert.equal(exit.code, 3);
  assert.equal(await s.closed, 1000);
});

/** Whether a process exists on this machine (kwok runs the exec as a local process). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
