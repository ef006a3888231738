/**
 * Bad input against the console's /ws/logs and /ws/shell (issue 14): a stranger's and a sharee's
 * attempts on alice's workspace, pods that are not a workspace's (a plain pod in the same namespace,
 * an impostor claiming her workspace by label, annotation and ownerReference), names that try
 * to leave the namespace or the pod (`../`, `/`, `%2F`, unicode, over-long), a container the pod
 * lacks, a tail past the maximum, no credentials, a foreign Origin — each refused before the
 * handshake — and, on alice's own sockets, absurd resizes, malformed and binary frames, oversized
 * stdin and a flood of bad frames — each answered with an error frame, the connection kept (a
 * flood: closed 1008), the terminal unchanged.
 *
 * Proof that nothing reached the victim, after every row: the API server's own counts of pods/exec
 * and pods/log requests (apiserver_request_total) did not move for a refused upgrade; a marker file
 * in alice's volume is unchanged and no file appeared beside it; the proxy still answers /readyz.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { writeFile } from "node:fs/promises";
import { LOGS_MAX_TAIL, LOGS_PATH, SHELL_MAX_STDIN, SHELL_PATH } from "../../proxy/console/protocol.ts";
import { SYNC_OF_LABEL, WORKSPACE_ANNOTATION } from "../../common/model/workspace/names.ts";
import {
  isSocket,
  mustOpen,
  openConsole,
  podSubresourceRequests,
  type ConsoleSocket,
  type OpenOptions,
} from "../lib/console-socket.ts";
import { sessionCookie } from "../lib/api-client.ts";
import { eventually, uniqueName } from "../lib/kube.ts";
import { startOidcProxy, type OidcProvider } from "../lib/oidc.ts";
import type { ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";
import { getWorkspace, tinyClass } from "../lib/workspaces.ts";

const PROVIDER = "198.18.0.142";
const PROXY = "198.18.0.143";
const PUBLIC = "http://portico.test:8080";

const suite = clusterSuite("attacks-console", {
  classes: { tiny: tinyClass },
  workspaces: [
    { name: "proj", class: "tiny", owner: "alice", spec: { sharedWith: { users: ["carol"] } } },
    { name: "bobs", class: "tiny", owner: "bob" },
  ],
});
const c = suite.c;
let idp: OidcProvider;
let px: ProxyProcess;
const tokens = new Map<string, string>();
let aliceCookie: string;
/** alice's volume: the victim's files. */
let volume: string;
const MARKER = "victim-marker.txt";
let markerBefore: string;
let filesBefore: string[];

before(async () => {
  await suite.ready();
  ({ idp, px } = await startOidcProxy(suite, {
    name: "attacks-console",
    provider: PROVIDER,
    proxy: PROXY,
    publicUrl: PUBLIC,
    flags: [`--api-namespace=${suite.ns}`, "--rate-limit-ip=0", "--rate-limit-user=0"],
  }));
  for (const user of ["alice", "bob", "carol"]) tokens.set(user, (await idp.tokensFor(user)).accessToken);
  aliceCookie = await sessionCookie(px, idp, "alice");
  // A pod in the same namespace that is nobody's workspace, and an impostor claiming alice's: her
  // workspace's name in the sync pod's label and the exact-name annotation, even an ownerReference
  // to her Workspace — but not the name, nor the operator's labels (the operator deletes a pod of its
  // own labels it did not make, and admission refuses the workspace label to anyone but it).
  const proj = await getWorkspace(c, suite.ns, "proj");
  const owner = [
    { apiVersion: "portico.dev/v1alpha1", kind: "Workspace", name: "proj", uid: proj.metadata.uid! },
  ];
  for (const [name, labels, ownerReferences] of [
    ["plain", {}, undefined],
    ["impostor", { [SYNC_OF_LABEL]: "proj" }, owner],
  ] as const)
    await c.core.createNamespacedPod({
      namespace: suite.ns,
      body: {
        metadata: {
          name,
          labels,
          annotations: { [WORKSPACE_ANNOTATION]: "proj" },
          ...(ownerReferences ? { ownerReferences } : {}),
        },
        spec: {
          containers: [
            {
              name: "main",
              image: "busybox:1.36",
              command: ["/bin/sh", "-c", "echo impostor; exec sleep 3600"],
            },
          ],
        },
      },
    });
  for (const name of ["plain", "impostor"])
    await eventually(`${name} running`, async () => {
      const p = await c.core.readNamespacedPod({ namespace: suite.ns, name });
      return p.status?.phase === "Running" ? true : undefined;
    });
  const ws = await getWorkspace(c, suite.ns, "proj");
  const pvc = await c.core.readNamespacedPersistentVolumeClaim({
    namespace: suite.ns,
    name: ws.status!.children!.pvc!,
  });
  const pv = await c.core.readPersistentVolume({ name: pvc.spec!.volumeName! });
  volume = pv.spec!.hostPath!.path;
  await writeFile(join(volume, MARKER), `alice's ${uniqueName("secret")}\n`);
  markerBefore = await markerState();
  filesBefore = (await readdir(volume)).filter((f) => f !== ".bash_history").sort();
});

async function markerState(): Promise<string> {
  const body = await readFile(join(volume, MARKER));
  const s = await stat(join(volume, MARKER));
  return `${createHash("sha256").update(body).digest("hex")} ${s.mtimeMs}`;
}

/** Nothing reached alice's files, and the proxy is unharmed. */
async function victimUntouched(): Promise<void> {
  assert.equal(await markerState(), markerBefore, "the marker in alice's volume is unchanged");
  // Her own shells (the frame rows) keep their history in her home, the volume: nothing else appears.
  const now = (await readdir(volume)).filter((f) => f !== ".bash_history").sort();
  assert.deepEqual(now, filesBefore, "no file appeared in alice's volume");
  const ready = await fetch(`${px.healthUrl}/readyz`);
  assert.equal(ready.status, 200, "the proxy is unharmed");
  assert.equal(px.proc.exitCode, null);
}

const ns = () => suite.ns;
const as = (user: string): OpenOptions => ({ token: tokens.get(user)! });

interface UpgradeRow {
  attack: string;
  path: () => string;
  who: () => OpenOptions;
  status: number;
  /** The JSON `error` code of the refusal. */
  code: string;
}

const long = "a".repeat(300);
const UPGRADE_ROWS: UpgradeRow[] = [
  {
    attack: "bob opens a shell in alice's workspace",
    path: () => `${SHELL_PATH}?workspace=${ns()}/proj`,
    who: () => as("bob"),
    status: 404,
    code: "not_found",
  },
  {
    attack: "bob follows alice's logs",
    path: () => `${LOGS_PATH}?workspace=${ns()}/proj`,
    who: () => as("bob"),
    status: 404,
    code: "not_found",
  },
  {
    attack: "bob names alice's pod directly (ns & pod)",
    path: () => `${SHELL_PATH}?ns=${ns()}&pod=ws-proj`,
    who: () => as("bob"),
    status: 404,
    code: "not_found",
  },
  {
    attack: "bob reads alice's pod's log by name",
    path: () => `${LOGS_PATH}?ns=${ns()}&pod=ws-proj&container=ide`,
    who: () => as("bob"),
    status: 404,
    code: "not_found",
  },
  {
    attack: "carol, a sharee, opens a shell",
    path: () => `${SHELL_PATH}?workspace=${ns()}/proj`,
    who: () => as("carol"),
    status: 403,
    code: "forbidden",
  },
  {
    attack: "carol, a sharee, follows the logs",
    path: () => `${LOGS_PATH}?ns=${ns()}&pod=ws-proj`,
    who: () => as("carol"),
    status: 403,
    code: "forbidden",
  },
  {
    attack: "a pod in the same namespace that is no workspace's (shell)",
    path: () => `${SHELL_PATH}?ns=${ns()}&pod=plain`,
    who: () => as("alice"),
    status: 404,
    code: "not_found",
  },
  {
    attack: "a pod in the same namespace that is no workspace's (logs)",
    path: () => `${LOGS_PATH}?ns=${ns()}&pod=plain`,
    who: () => as("alice"),
    status: 404,
    code: "not_found",
  },
  {
    attack: "an impostor pod claiming alice's workspace (label, annotation, ownerReference) (logs)",
    path: () => `${LOGS_PATH}?ns=${ns()}&pod=impostor`,
    who: () => as("alice"),
    status: 404,
    code: "not_found",
  },
  {
    attack: "the impostor pod, as alice (shell)",
    path: () => `${SHELL_PATH}?ns=${ns()}&pod=impostor`,
    who: () => as("bob"),
    status: 404,
    code: "not_found",
  },
  {
    attack: "ns with ../",
    path: () => `${LOGS_PATH}?ns=../kube-system&pod=ws-proj`,
    who: () => as("alice"),
    status: 400,
    code: "invalid",
  },
  {
    attack: "workspace with an extra /",
    path: () => `${SHELL_PATH}?workspace=${ns()}/proj/../../kube-system`,
    who: () => as("alice"),
    status: 400,
    code: "invalid",
  },
  {
    attack: "pod with %2F (a path of its own)",
    path: () => `${SHELL_PATH}?ns=${ns()}&pod=ws-proj%2Fexec%3Fcommand%3Did`,
    who: () => as("alice"),
    status: 400,
    code: "invalid",
  },
  {
    attack: "workspace with %2F in the namespace",
    path: () => `${LOGS_PATH}?workspace=kube-system%2F..%2F${ns()}/proj`,
    who: () => as("alice"),
    status: 400,
    code: "invalid",
  },
  {
    attack: "a very long pod name",
    path: () => `${LOGS_PATH}?ns=${ns()}&pod=${long}`,
    who: () => as("alice"),
    status: 400,
    code: "invalid",
  },
  {
    attack: "a unicode namespace",
    path: () => `${LOGS_PATH}?ns=${encodeURIComponent("ns-ä")}&pod=ws-proj`,
    who: () => as("alice"),
    status: 400,
    code: "invalid",
  },
  {
    attack: "container with ../",
    path: () => `${LOGS_PATH}?workspace=${ns()}/proj&container=..%2Fide`,
    who: () => as("alice"),
    status: 400,
    code: "invalid",
  },
  {
    attack: "a container the pod does not have",
    path: () => `${SHELL_PATH}?workspace=${ns()}/proj&container=sidecar`,
    who: () => as("alice"),
    status: 404,
    code: "not_found",
  },
  {
    attack: "a command smuggled as a parameter",
    path: () => `${SHELL_PATH}?workspace=${ns()}/proj&command=rm`,
    who: () => as("alice"),
    status: 400,
    code: "invalid",
  },
  {
    attack: "the same parameter twice (first for the check, second for the call)",
    path: () => `${SHELL_PATH}?ns=${ns()}&pod=ws-bobs&pod=ws-proj`,
    who: () => as("bob"),
    status: 400,
    code: "invalid",
  },
  {
    attack: "tail beyond the maximum",
    path: () => `${LOGS_PATH}?workspace=${ns()}/proj&tail=${LOGS_MAX_TAIL + 1}`,
    who: () => as("alice"),
    status: 400,
    code: "invalid",
  },
  {
    attack: "no credentials",
    path: () => `${SHELL_PATH}?workspace=${ns()}/proj`,
    who: () => ({}),
    status: 401,
    code: "unauthenticated",
  },
  {
    attack: "alice's session cookie from a foreign Origin",
    path: () => `${SHELL_PATH}?workspace=${ns()}/proj`,
    who: () => ({ cookie: aliceCookie, origin: "http://evil.example" }),
    status: 403,
    code: "cross_origin",
  },
  {
    attack: "alice's session cookie from a workspace's own origin",
    path: () => `${SHELL_PATH}?workspace=${ns()}/proj`,
    who: () => ({ cookie: aliceCookie, origin: `http://proj--${ns()}.portico.test:8080` }),
    status: 403,
    code: "cross_origin",
  },
];

for (const row of UPGRADE_ROWS)
  test(`attack: ${row.attack} → ${row.status} ${row.code}, never opened`, async () => {
    const [exec0, log0] = await Promise.all([podSubresourceRequests("exec"), podSubresourceRequests("log")]);
    const r = await openConsole(px, row.path(), row.who());
    if (isSocket(r)) {
      await r.close();
      assert.fail(`the socket opened: ${JSON.stringify(r.frames)}`);
    }
    assert.equal(r.status, row.status, JSON.stringify(r.body));
    assert.equal(r.body.error, row.code, JSON.stringify(r.body));
    assert.ok(r.body.message, "the refusal says what to do");
    const [exec1, log1] = await Promise.all([podSubresourceRequests("exec"), podSubresourceRequests("log")]);
    assert.equal(exec1.total, exec0.total, "no pods/exec request reached the API server");
    assert.equal(log1.total, log0.total, "no pods/log request reached the API server");
    await victimUntouched();
  });

test("attack: the no-leak rule — a stranger's answers for alice's pod, a plain pod and no pod are the same words", async () => {
  const msg = async (pod: string) => {
    const r = await openConsole(px, `${LOGS_PATH}?ns=${ns()}&pod=${pod}`, as("bob"));
    assert.ok(!isSocket(r));
    return [r.status, r.body.error, r.body.message?.replace(pod, "X")];
  };
  const alices = await msg("ws-proj");
  assert.deepEqual(await msg("plain"), alices);
  assert.deepEqual(await msg("no-such-pod"), alices);
  await victimUntouched();
});

// ─── frames on alice's own sockets ──────────────────────────────────────────────────────────────

/** alice's own shell, sized 80x24, the size confirmed by the shell itself. */
async function aliceShell(): Promise<ConsoleSocket> {
  const s = await mustOpen(px, `${SHELL_PATH}?workspace=${ns()}/proj`, as("alice"));
  await s.until("ready", () => s.frames.find((f) => f.type === "ready"));
  s.sendJson({ type: "resize", cols: 80, rows: 24 });
  await sizeIs(s, "24 80");
  return s;
}

async function sizeIs(s: ConsoleSocket, want: string): Promise<void> {
  const mark = uniqueName("size").replace(/-/g, "");
  await eventually(
    `stty size ${want}`,
    async () => {
      s.sendJson({ type: "stdin", data: `echo ${mark}=$(stty size)\n` });
      return s
        .until(want, () => (s.output().includes(`${mark}=${want}`) ? true : undefined), 2_000)
        .catch(() => undefined);
    },
    60_000,
    0,
  );
}

/** The connection is kept: a ping still gets its pong. */
async function stillOpen(s: ConsoleSocket): Promise<void> {
  const pongs = s.frames.filter((f) => f.type === "pong").length;
  s.sendJson({ type: "ping" });
  await s.until("pong", () => (s.frames.filter((f) => f.type === "pong").length > pongs ? true : undefined));
}

const errorsOf = (s: ConsoleSocket) => s.frames.filter((f) => f.type === "error");

interface FrameRow {
  attack: string;
  /** Raw frames sent (a Buffer goes as a binary frame). */
  send: () => (string | Buffer)[];
  code: string;
}

const FRAME_ROWS: FrameRow[] = [
  {
    attack: "an absurd resize (1e9 x 1e9)",
    send: () => [JSON.stringify({ type: "resize", cols: 1e9, rows: 1e9 })],
    code: "bad_frame",
  },
  {
    attack: "a resize of zero and negative sizes",
    send: () => [JSON.stringify({ type: "resize", cols: 0, rows: -5 })],
    code: "bad_frame",
  },
  {
    attack: "a resize with strings",
    send: () => [JSON.stringify({ type: "resize", cols: "100", rows: "40; reboot" })],
    code: "bad_frame",
  },
  { attack: "a frame that is not JSON", send: () => ["{not json"], code: "bad_frame" },
  {
    attack: "a binary frame (a raw channel-0 message)",
    send: () => [Buffer.from([0, ...Buffer.from("touch BINARY\n")])],
    code: "bad_frame",
  },
  {
    attack: "an unknown frame type",
    send: () => [JSON.stringify({ type: "exec", command: ["touch", "EXEC"] })],
    code: "bad_frame",
  },
  {
    attack: "stdin one byte past the bound",
    send: () => [
      JSON.stringify({ type: "stdin", data: `touch OVERSIZE; #${"x".repeat(SHELL_MAX_STDIN)}\n` }),
    ],
    code: "too_large",
  },
];

for (const row of FRAME_ROWS)
  test(`attack: on alice's own shell, ${row.attack} → error ${row.code}, connection kept, nothing reached the shell`, async () => {
    const s = await aliceShell();
    const before = errorsOf(s).length;
    for (const f of row.send()) s.ws.send(f, { binary: Buffer.isBuffer(f) });
    const err = await s.until("the error frame", () => errorsOf(s)[before]);
    assert.equal(err.code, row.code, JSON.stringify(err));
    await stillOpen(s);
    await sizeIs(s, "24 80"); // the size is unchanged, and the shell still answers
    await s.close();
    await victimUntouched(); // no BINARY, EXEC or OVERSIZE file appeared
  });

test("attack: a flood of bad frames → an error frame each, then closed 1008; the proxy serves the next socket", async () => {
  const s = await aliceShell();
  for (let i = 0; i < 50; i++) s.ws.send("garbage");
  assert.equal(await s.closed, 1008);
  const next = await aliceShell();
  await next.close();
  await victimUntouched();
});

test("attack: the logs socket takes no input but ping: stdin and binary frames are refused, the follow goes on", async () => {
  const s = await mustOpen(px, `${LOGS_PATH}?workspace=${ns()}/proj`, as("alice"));
  await s.until("following", () => s.frames.find((f) => f.type === "status" && f.state === "following"));
  s.sendJson({ type: "stdin", data: "touch LOGS\n" });
  s.ws.send(Buffer.from([0, 1, 2]), { binary: true });
  await s.until("two errors", () => (errorsOf(s).length >= 2 ? true : undefined));
  await stillOpen(s);
  await s.close();
  await victimUntouched();
});
