/**
 * Benchmark (not a test) of the self-service API (issue 13), each part against its direct path, in
 * one run on one cluster: the real proxy (`--auth=jwt`, the API on), the real OpenID provider, the
 * Gitea stand-in (real git over HTTP), the real operator and pod runner.
 *
 * 1. Provision → Ready → first 200 through the proxy, `--runs` times (default 10; a new private
 *    repository each run): `POST /api/v1/provision` with alice's own token, against the same Workspace
 *    (same class, same repository, same clone Secret) created straight through the API server as
 *    kubectl would. Ready is taken from a watch on the Workspaces (the same one for both paths), then
 *    the workspace's host is asked through the proxy every 5 ms until it answers 200. The order of the
 *    two paths alternates from run to run; each run's workspaces are deleted (and waited gone) before
 *    the next. The git clone's share comes from the init containers' own log timestamps.
 * 2. List latency with `--workspaces` (default 1,000) stopped Workspaces in the proxy's caches, spread
 *    over 100 users (alice has 10) in one namespace, created as an admin through the API server with a
 *    stopped status copied from one the operator really stopped (the operator is stopped first, so
 *    nothing else runs): the API's REST list as alice, the admin's `?all=true`, GraphQL `myCodeServers`
 *    as alice — against the API server's own LIST of the same objects (alice's 10 by a label selector;
 *    all of them), with the same client (e2e/bench/api-load.ts: sequential, then concurrent).
 *
 *   npm run bench:api [-- --runs=10 --rounds=3 --seconds=5 --workspaces=1000]
 *
 * Prints JSON and writes docs/benchmarks.md's api section.
 */
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { Agent, request } from "undici";
import { GROUP, VERSION, WORKSPACE, type Workspace } from "../../crds/types.ts";
import { childNames } from "../../common/model/workspace/names.ts";
import { createRepository, startGitServer, type GitServer } from "../fixtures/git-server.ts";
import { api } from "../lib/api-client.ts";
import { clients, withNamespace } from "../lib/kube.ts";
import { startOidcProvider } from "../lib/oidc.ts";
import { startOperator, stateDir, type OperatorProcess } from "../lib/operator.ts";
import { startProxy, type ProxyProcess } from "../lib/proxy.ts";
import { createClass, createWorkspace, deleteWorkspace, isReady, tinyClass } from "../lib/workspaces.ts";
import { benchNetns, loadLog } from "./backend.ts";
import { cpuTicks } from "./proxy-peers.ts";
import { median, writeSection } from "./wrk.ts";

const { values: opt } = parseArgs({
  options: {
    runs: { type: "string", default: "10" },
    rounds: { type: "string", default: "3" },
    seconds: { type: "string", default: "5" },
    workspaces: { type: "string", default: "1000" },
  },
});
const RUNS = Number(opt.runs);
const ROUNDS = Number(opt.rounds);
const SECONDS = Number(opt.seconds);
const N = Number(opt.workspaces);
const USERS = 100;
const PER_USER = N / USERS;
if (!Number.isInteger(PER_USER)) throw new Error(`--workspaces must be a multiple of ${USERS}`);

const PROVIDER = "198.18.0.120";
const GIT = "198.18.0.121";
const PROXY = "198.18.0.122";
const OWNER_LABEL = "bench.portico.dev/owner";
const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());
const log = (s: string) => process.stderr.write(`[bench:api] ${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const { loads, note: noteLoad } = loadLog();

const netns = benchNetns("bench:api");
noteLoad("start");
const c = clients();
const custom = { group: GROUP, version: VERSION, plural: WORKSPACE.plural };

// ---- the parts every path shares --------------------------------------------------------------------
const cls = "bench-api-tiny";
const klass = tinyClass(cls);
klass.spec.git = { allowedProtocols: ["http"] }; // the stand-in speaks plain HTTP
await createClass(c, klass).catch(() => undefined);
const ns = await withNamespace(c, "bench-api");
await c.core.createNamespacedSecret({
  namespace: ns.name,
  body: { metadata: { name: "git-clone" }, stringData: { username: "portico-bot", password: "bot-secret" } },
});
const idp = await startOidcProvider({
  address: PROVIDER,
  port: 9000,
  redirectUris: ["http://portico.test:8080/__portico/auth/callback"],
  accessTokenTtl: 3600,
  name: "bench-api-oidc",
});
const alice = (await idp.tokensFor("alice")).accessToken;
const admin = (await idp.tokensFor("admin")).accessToken;
const gitRoot = join(stateDir(), "bench-api-git");
const git: GitServer = await startGitServer({
  root: gitRoot,
  issuer: idp.issuer,
  host: GIT,
  port: 3000,
  machine: { user: "portico-bot", password: "bot-secret" },
});
let op: OperatorProcess | undefined = await startOperator(["--lease-name=bench-api"], "bench-api-operator");
const px: ProxyProcess = await startProxy({
  address: PROXY,
  port: 8080,
  name: "bench-api-proxy",
  flags: [
    "--auth=jwt",
    `--oidc-issuer=${idp.issuer}`,
    "--oidc-audiences=portico",
    `--api-namespace=${ns.name}`,
    `--git-server-url=${git.url}`,
    `--git-api-url=${git.apiUrl}`,
    "--git-secret=git-clone",
    `--git-class=${cls}`,
    "--rate-limit-ip=0",
    "--rate-limit-user=0",
    "--log-level=warn",
  ],
});

/** Every Workspace of the namespace as a watch delivers it: when each was first Ready, and gone. */
function watchWorkspaces(namespace: string) {
  const readyAt = new Map<string, { t: number; ws: Workspace }>();
  const gone = new Set<string>();
  const waiters: (() => void)[] = [];
  let stopped = false;
  let ctl: AbortController | undefined;
  const start = async (): Promise<void> => {
    ctl = await new k8s.Watch(c.kc).watch(
      `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${WORKSPACE.plural}`,
      {},
      (type: string, ws: Workspace) => {
        const name = ws.metadata.name!;
        if (type === "DELETED") gone.add(name);
        else if (isReady(ws) && !readyAt.has(name)) readyAt.set(name, { t: performance.now(), ws });
        for (const w of waiters.splice(0)) w();
      },
      () => void (stopped ? undefined : start()), // the server ends watches now and then: go on
    );
  };
  const until = async <T>(what: string, f: () => T | undefined, ms: number): Promise<T> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = f();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await Promise.race([new Promise<void>((r) => waiters.push(r)), sleep(1000)]);
    }
  };
  return {
    start,
    ready: (name: string) => until(`${name} Ready`, () => readyAt.get(name), 180_000),
    gone: (name: string) => until(`${name} gone`, () => (gone.has(name) ? true : undefined), 120_000),
    stop: () => {
      stopped = true;
      ctl?.abort();
    },
  };
}

/** Status of GET / on a workspace's host through the proxy, as alice. */
function probe(namespace: string, name: string): Promise<number> {
  return request(`${px.url}/`, {
    headers: { host: px.hostFor(namespace, name), authorization: `Bearer ${alice}` },
  }).then(
    async (r) => {
      await r.body.dump();
      return r.statusCode;
    },
    () => 0,
  );
}

/** Milliseconds since the epoch of the first log line of `container` that contains `text`. */
async function logTime(pod: string, container: string, text: string): Promise<number> {
  const out = await c.core.readNamespacedPodLog({
    namespace: ns.name,
    name: pod,
    container,
    timestamps: true,
  });
  const line = out.split("\n").find((l) => l.includes(text));
  if (!line) throw new Error(`no "${text}" in the log of ${pod}/${container}:\n${out}`);
  return Date.parse(line.slice(0, line.indexOf(" ")));
}

interface Timing {
  /** ms from the start to the create call's answer, to Ready (watch), to the first 200 through the proxy. */
  created: number;
  ready: number;
  first200: number;
  /** ms of the git steps (git-clone's "cloning" line to git-checkout's "cloned" line), and when they began. */
  clone: number;
  cloneStart: number;
  /** API path only: when the API's own GET first said RUNNING (polled every 100 ms). */
  apiRunning?: number;
}

/** From a create call to the first 200: the create, Ready from the watch, then GET / every 5 ms. */
async function measure(
  w: ReturnType<typeof watchWorkspaces>,
  create: () => Promise<{ name: string }>,
  apiPoll = false,
): Promise<Timing> {
  const wall = Date.now();
  const t0 = performance.now();
  const { name } = await create();
  const created = performance.now() - t0;
  let apiRunning: number | undefined;
  const polling = apiPoll
    ? (async () => {
        const path = `/api/v1/workspaces/${ns.name}/${name}`;
        const deadline = Date.now() + 180_000;
        while ((await api(px, { path, token: alice })).json?.status !== "RUNNING") {
          if (Date.now() > deadline) throw new Error(`the API never said ${name} is RUNNING`);
          await sleep(100);
        }
        apiRunning = performance.now() - t0;
      })()
    : undefined;
  const { t: readyT, ws } = await w.ready(name);
  while ((await probe(ns.name, name)) !== 200) await sleep(5);
  const first200 = performance.now() - t0;
  await polling;
  const pod = ws.status!.children!.pod!;
  const cloneFrom = await logTime(pod, "git-clone", "cloning ");
  const cloneTo = await logTime(pod, "git-checkout", "cloned ");
  return {
    created,
    ready: readyT - t0,
    first200,
    clone: cloneTo - cloneFrom,
    cloneStart: cloneFrom - wall,
    ...(apiRunning !== undefined ? { apiRunning } : {}),
  };
}

/** JSON with sorted keys. */
const canonical = (x: unknown): string =>
  JSON.stringify(x, (_k, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );

/** What the API's provision makes: the spec the direct path creates too (every run checks it). */
const directSpec = (repo: string) => ({
  owner: "alice",
  className: cls,
  repository: { url: git.cloneUrl("alice", repo), secretRef: { name: "git-clone" } },
});

// ---- part 1: provision → Ready → first 200 ----------------------------------------------------------
/**
 * The git server's answer to the API's access check, timed from here: what the API asks before it
 * writes (`GET {api}/repos/{owner}/{repo}` with the caller's token, which the server verifies).
 */
async function gitCheckMs(repo: string): Promise<number> {
  const t0 = performance.now();
  const r = await request(`${git.apiUrl}/repos/alice/${repo}`, {
    headers: { authorization: `token ${alice}` },
  });
  await r.body.dump();
  if (r.statusCode !== 200) throw new Error(`the git server's repository API answered ${r.statusCode}`);
  return performance.now() - t0;
}

async function provisionPart(): Promise<{
  api: Timing[];
  direct: Timing[];
  gitCheck: number[];
  files: number;
  kib: number;
}> {
  const w = watchWorkspaces(ns.name);
  await w.start();
  const files: Record<string, string> = { "README.md": "# Analysis\n\nThe data and the notebook.\n" };
  for (let f = 0; f < 20; f++)
    files[`src/module_${f}.py`] = `# module ${f}\n` + `def f${f}(x):\n    return x * ${f}\n`.repeat(60);
  const kib = Object.values(files).reduce((a, s) => a + s.length, 0) / 1024;
  const out = {
    api: [] as Timing[],
    direct: [] as Timing[],
    gitCheck: [] as number[],
    files: Object.keys(files).length,
    kib,
  };
  for (let i = 0; i < RUNS; i++) {
    const repo = `bench-${i}`;
    await createRepository(gitRoot, "alice", repo, files);
    git.addRepository({ owner: "alice", name: repo, private: true });
    const viaApi = () =>
      measure(
        w,
        async () => {
          const a = await api(px, {
            method: "POST",
            path: "/api/v1/provision",
            token: alice,
            body: { repoOwner: "alice", repoName: repo },
          });
          if (a.status !== 201) throw new Error(`provision ${repo}: ${a.status} ${a.body}`);
          return { name: a.json.workspace.name as string };
        },
        true,
      );
    const direct = () =>
      measure(w, async () => {
        const made = await createWorkspace(c, {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: "Workspace",
          metadata: { name: `direct-${i}`, namespace: ns.name },
          spec: directSpec(repo),
        });
        return { name: made.metadata.name! };
      });
    for (const path of i % 2 ? ["direct", "api"] : ["api", "direct"]) {
      const t = path === "api" ? await viaApi() : await direct();
      out[path as "api" | "direct"].push(t);
      log(
        `run ${i + 1}/${RUNS} ${path}: created ${t.created.toFixed(0)} ms, Ready ${t.ready.toFixed(0)} ms, first 200 ${t.first200.toFixed(0)} ms, git ${t.clone} ms from ${t.cloneStart} ms`,
      );
    }
    const made = (
      (await c.custom.listNamespacedCustomObject({ ...custom, namespace: ns.name })) as { items: Workspace[] }
    ).items;
    // The direct path made what the API makes, defaults included (else the comparison would not be fair).
    const specs = new Set(made.map((o) => canonical(o.spec)));
    if (made.length !== 2 || specs.size !== 1)
      throw new Error(`the two paths' Workspaces differ: ${[...specs].join(" vs ")}`);
    const names = made.map((o) => o.metadata.name!);
    out.gitCheck.push(await gitCheckMs(repo));
    for (const n of names) await deleteWorkspace(c, ns.name, n);
    for (const n of names) await w.gone(n);
  }
  w.stop();
  return out;
}

/** A stopped status as the operator writes it: one workspace stopped for real, its status kept. */
async function stoppedStatus(): Promise<Workspace["status"]> {
  await createWorkspace(c, {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: "Workspace",
    metadata: { name: "template", namespace: ns.name },
    spec: { owner: "alice", className: cls, running: false },
  });
  let ws: Workspace | undefined;
  for (const t0 = Date.now(); Date.now() - t0 < 120_000; await sleep(250)) {
    ws = (await c.custom.getNamespacedCustomObject({
      ...custom,
      namespace: ns.name,
      name: "template",
    })) as Workspace;
    if (ws.status?.phase === "Stopped" && ws.status.observedGeneration === ws.metadata.generation) break;
  }
  if (ws?.status?.phase !== "Stopped")
    throw new Error(`the template never stopped: ${JSON.stringify(ws?.status)}`);
  await deleteWorkspace(c, ns.name, "template");
  // Gone before the operator stops (its finalizer would hold it, and the admin's list would show it).
  for (const t0 = Date.now(); ; await sleep(250)) {
    const left = await c.custom
      .getNamespacedCustomObject({ ...custom, namespace: ns.name, name: "template" })
      .then(
        () => true,
        () => false,
      );
    if (!left) break;
    if (Date.now() - t0 > 120_000) throw new Error("the template workspace was not deleted within 2 min");
  }
  return ws.status;
}

const provision = await provisionPart();
noteLoad("after the provision runs");
const template = await stoppedStatus();
await op.stop(); // from here on nothing reconciles: the 1,000 stay as written
op = undefined;

// ---- part 2: lists with N workspaces in the caches ----------------------------------------------------
const list = await withNamespace(c, "bench-api-list");
const users = [
  "alice",
  ...Array.from({ length: USERS - 1 }, (_, u) => `user-${String(u + 1).padStart(2, "0")}`),
];
async function loadWorkspaces(): Promise<number> {
  const todo = users.flatMap((u) =>
    Array.from({ length: PER_USER }, (_, k) => ({ owner: u, name: `${u}-${k}` })),
  );
  const t0 = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < todo.length) {
        const { owner, name } = todo[next++]!;
        const made = await createWorkspace(c, {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: "Workspace",
          metadata: { name, namespace: list.name, labels: { [OWNER_LABEL]: owner } },
          spec: { owner, className: cls, running: false },
        });
        const gen = made.metadata.generation;
        const child = childNames(made);
        await c.custom.replaceNamespacedCustomObjectStatus({
          ...custom,
          namespace: list.name,
          name,
          body: {
            ...made,
            status: {
              ...template,
              observedGeneration: gen,
              conditions: (template?.conditions ?? []).map((x) => ({ ...x, observedGeneration: gen })),
              // The template's own names, renamed for this one.
              ...(template?.url
                ? { url: template.url.replace(`template--${ns.name}`, `${name}--${list.name}`) }
                : {}),
              children: Object.fromEntries(
                Object.keys(template?.children ?? {}).map((k) => [k, child[k as keyof typeof child]]),
              ),
            },
          },
        });
      }
    }),
  );
  return (Date.now() - t0) / 1000;
}
const loadSeconds = await loadWorkspaces();
log(`${N} workspaces written in ${loadSeconds.toFixed(0)} s`);

const server = c.kc.getCurrentCluster()!.server;
const ca = readFileSync(c.kc.getCurrentCluster()!.caFile!, "utf8");
const adminToken = c.kc.getCurrentUser()!.token!;
const apiserverPid = Number(readFileSync(join(stateDir(), "pids/kube-apiserver.pid"), "utf8"));
const dispatcher = new Agent({ connect: { ca } });

interface Target {
  key: string;
  label: string;
  origin: string;
  path: string;
  method?: string;
  headers: Record<string, string>;
  body?: string;
  ca?: string;
  /** Whose CPU a request costs. */
  pid: number;
  /** How many items an answer must hold. */
  items: number;
  /** Which direct path it is compared with. */
  vs?: string;
}
const proxyHeaders = (token: string) => ({
  host: `portico.test:${px.port}`,
  authorization: `Bearer ${token}`,
  accept: "application/json",
});
const wsPath = `/apis/${GROUP}/${VERSION}/namespaces/${list.name}/${WORKSPACE.plural}`;
const targets: Target[] = [
  {
    key: "direct-10",
    label: `API server LIST, \`labelSelector=${OWNER_LABEL}=alice\` (${PER_USER} items)`,
    origin: server,
    path: `${wsPath}?labelSelector=${encodeURIComponent(`${OWNER_LABEL}=alice`)}`,
    headers: { authorization: `Bearer ${adminToken}`, accept: "application/json" },
    ca,
    pid: apiserverPid,
    items: PER_USER,
  },
  {
    key: "rest-10",
    label: `\`GET /api/v1/workspaces\` as alice (${PER_USER} items)`,
    origin: px.url,
    path: "/api/v1/workspaces",
    headers: proxyHeaders(alice),
    pid: px.proc.pid!,
    items: PER_USER,
    vs: "direct-10",
  },
  {
    key: "gql-10",
    label: `GraphQL \`{ myCodeServers { id status url } }\` as alice (${PER_USER} items)`,
    origin: px.url,
    path: "/graphql",
    method: "POST",
    headers: { ...proxyHeaders(alice), "content-type": "application/json" },
    body: JSON.stringify({ query: "{ myCodeServers { id status url } }" }),
    pid: px.proc.pid!,
    items: PER_USER,
    vs: "direct-10",
  },
  {
    key: "direct-all",
    label: `API server LIST of the namespace (${N} items)`,
    origin: server,
    path: wsPath,
    headers: { authorization: `Bearer ${adminToken}`, accept: "application/json" },
    ca,
    pid: apiserverPid,
    items: N,
  },
  {
    key: "rest-all",
    label: `\`GET /api/v1/workspaces?all=true\` as admin (${N} items)`,
    origin: px.url,
    path: "/api/v1/workspaces?all=true",
    headers: proxyHeaders(admin),
    pid: px.proc.pid!,
    items: N,
    vs: "direct-all",
  },
];

/** Items in one answer of `t` (the list namespace's only, for the admin's view of every namespace). */
async function itemsOf(t: Target): Promise<number> {
  const r = await request(`${t.origin}${t.path}`, {
    method: (t.method ?? "GET") as "GET",
    headers: t.headers,
    ...(t.body ? { body: t.body } : {}),
    dispatcher,
  });
  const j = (await r.body.json()) as {
    items?: { namespace?: string; metadata?: { namespace?: string } }[];
    data?: { myCodeServers?: unknown[] };
  };
  if (r.statusCode !== 200) throw new Error(`${t.label}: ${r.statusCode} ${JSON.stringify(j)}`);
  const items = j.items ?? j.data?.myCodeServers ?? [];
  return (items as { namespace?: string; metadata?: { namespace?: string } }[]).filter(
    (x) => !("namespace" in x || "metadata" in x) || (x.namespace ?? x.metadata?.namespace) === list.name,
  ).length;
}

interface Served {
  /** LISTs of Workspaces answered from the watch cache, and the objects they returned. */
  cache: number;
  cacheObjects: number;
  /** LISTs of Workspaces sent to etcd, and the objects etcd gave them. */
  etcd: number;
  etcdObjects: number;
}

/** Where the API server took its Workspace LISTs from (its own metrics, counters). */
async function listsServed(): Promise<Served> {
  const r = await request(`${server}/metrics`, {
    headers: { authorization: `Bearer ${adminToken}` },
    dispatcher,
  });
  const text = await r.body.text();
  const total = (metric: string) =>
    [...text.matchAll(new RegExp(`^${metric}\\{([^}]*)\\} (\\S+)$`, "gm"))]
      .filter((m) => m[1]!.includes(`group="${GROUP}"`) && m[1]!.includes(`resource="${WORKSPACE.plural}"`))
      .reduce((a, m) => a + Number(m[2]), 0);
  return {
    cache: total("apiserver_cache_list_total"),
    cacheObjects: total("apiserver_cache_list_returned_objects_total"),
    etcd: total("apiserver_storage_list_total"),
    etcdObjects: total("apiserver_storage_list_fetched_objects_total"),
  };
}

const cachesT0 = Date.now();
for (;;) {
  const n = await itemsOf(targets.find((t) => t.key === "rest-all")!);
  if (n >= N) break;
  if (Date.now() - cachesT0 > 300_000) throw new Error(`the proxy's caches hold only ${n}/${N} after 5 min`);
  await sleep(500);
}
const cachesLag = (Date.now() - cachesT0) / 1000;
log(`the proxy's caches hold all ${N} (${cachesLag.toFixed(1)} s after the last write)`);
for (const t of targets) {
  const n = await itemsOf(t);
  if (n !== t.items) throw new Error(`${t.label}: ${n} items, expected ${t.items}`);
}

interface Load {
  sequential: { n: number; p50Us: number; p99Us: number };
  concurrent: { n: number; p50Us: number; p99Us: number; connections: number; rps: number };
  bytes: number;
  total: number;
  errors: number;
  lastError?: string;
  cpuUs: number;
}

/** One measurement of `t` by e2e/bench/api-load.ts, its own process; the server's CPU per request. */
async function load(t: Target): Promise<Load> {
  const ticks0 = cpuTicks(t.pid);
  const child = spawn(process.execPath, [join(import.meta.dirname, "api-load.ts")], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  child.stdin.end(
    JSON.stringify({ ...t, warmup: 20, count: 300, seqSeconds: SECONDS, connections: 8, seconds: SECONDS }),
  );
  let out = "";
  for await (const chunk of child.stdout) out += String(chunk);
  const r = JSON.parse(out) as Omit<Load, "cpuUs">;
  if (r.errors) throw new Error(`${t.label}: ${r.errors} failed requests (${r.lastError})`);
  return { ...r, cpuUs: (((cpuTicks(t.pid) - ticks0) / CLK_TCK) * 1e6) / r.total };
}

const results = new Map<string, Load[]>(targets.map((t) => [t.key, []]));
const served0 = await listsServed();
noteLoad("before the list rounds");
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 ? [...targets].reverse() : targets;
  for (const t of order) {
    const x = await load(t);
    results.get(t.key)!.push(x);
    log(
      `round ${r + 1}/${ROUNDS} ${t.key}: c=1 p50 ${(x.sequential.p50Us / 1000).toFixed(2)} ms p99 ${(x.sequential.p99Us / 1000).toFixed(2)} ms (n=${x.sequential.n}); c=8 ${x.concurrent.rps.toFixed(0)} req/s; ${x.cpuUs.toFixed(0)} µs CPU/req; ${x.bytes} B`,
    );
  }
}
noteLoad("end");
const served1 = await listsServed();
const served = Object.fromEntries(
  Object.entries(served1).map(([k, v]) => [k, v - served0[k as keyof Served]]),
) as unknown as Served;
log(`Workspace LISTs during the rounds: ${JSON.stringify(served)}`);
await px.stop();
await git.close();
await idp.stop();
await dispatcher.close();
// No cleanup of the 1,000 Workspaces: the cluster is torn down after a benchmark.

// ---- report -----------------------------------------------------------------------------------------
const med = (xs: number[]) => median(xs);
const ms = (us: number) => (us / 1000).toFixed(2);
const f0 = (x: number) => x.toFixed(0);
const f2 = (x: number) => x.toFixed(2);
const stat = (key: string, f: (x: Load) => number) => med(results.get(key)!.map(f));
const paired = (key: string, vs: string, f: (x: Load) => number) =>
  med(results.get(key)!.map((x, i) => f(x) / f(results.get(vs)![i]!)));
const listRows = targets.map((t) => {
  const p50 = stat(t.key, (x) => x.sequential.p50Us);
  const p99 = stat(t.key, (x) => x.sequential.p99Us);
  const rps = stat(t.key, (x) => x.concurrent.rps);
  const cp50 = stat(t.key, (x) => x.concurrent.p50Us);
  const cp99 = stat(t.key, (x) => x.concurrent.p99Us);
  const ratio = t.vs
    ? `${f2(paired(t.key, t.vs, (x) => x.sequential.p50Us))} / ${f2(paired(t.key, t.vs, (x) => x.concurrent.rps))}`
    : "1.00 / 1.00";
  const n = results
    .get(t.key)!
    .map((x) => x.sequential.n)
    .join(", ");
  return `| ${t.label} | ${ms(p50)} / ${ms(p99)} (n = ${n}) | ${ms(cp50)} / ${ms(cp99)} | ${f0(rps)} | ${ratio} | ${f0(stat(t.key, (x) => x.cpuUs))} (${t.pid === apiserverPid ? "API server" : "proxy"}) | ${(results.get(t.key)![0]!.bytes / 1024).toFixed(1)} KiB |`;
});

const pm = (ts: Timing[], f: (t: Timing) => number) => med(ts.map(f));
const provRow = (label: string, ts: Timing[]) =>
  `| ${label} | ${f0(pm(ts, (t) => t.created))} | ${f0(pm(ts, (t) => t.ready))} | **${f0(pm(ts, (t) => t.first200))}** (${ts.map((t) => f0(t.first200)).join(", ")}) | ${f0(pm(ts, (t) => t.cloneStart))} + ${f0(pm(ts, (t) => t.clone))} |`;
const provRatio = med(provision.api.map((t, i) => t.first200 / provision.direct[i]!.first200));
const ratioOfMedians = pm(provision.api, (t) => t.first200) / pm(provision.direct, (t) => t.first200);
const cloneShare = med([...provision.api, ...provision.direct].map((t) => t.clone / t.first200));
const everyRun = [...provision.api, ...provision.direct];
const gitEnd = med(everyRun.map((t) => t.cloneStart + t.clone));
const afterGit = med(everyRun.map((t) => t.ready - t.cloneStart - t.clone));
const apiLag = med(provision.api.map((t) => (t.apiRunning ?? NaN) - t.ready));

const summary = {
  runs: RUNS,
  provision,
  provisionRatio: provRatio,
  workspaces: N,
  loadSeconds,
  lists: Object.fromEntries(results),
  loads,
  served,
};
console.log(JSON.stringify(summary, null, 2));

const argv = process.argv.slice(2);
const netnsEnv = netns === "portico-bench" ? "" : `PORTICO_NETNS=${netns} `;
const section = `<!-- api:start -->
## Self-service API: provision to first 200, and lists with ${N} workspaces

Command: \`${netnsEnv}npm run bench:api${argv.length ? ` -- ${argv.join(" ")}` : ""}\` (${new Date().toISOString().slice(0, 10)}; the same 2-vCPU machine, shared
with other work; load average ${loads.join("; ")}). One cluster, one run: the real proxy
(\`--auth=jwt\`, the API on, \`--api-namespace\` one namespace, rate limits off), the real OpenID
provider (alice's and an admin's real access tokens), the Gitea stand-in (\`e2e/fixtures/git-server.ts\`:
real \`git http-backend\`, the provider's tokens checked), the real operator and pod runner.

**Provision → Ready → first 200 through the proxy**, ${RUNS} runs, each with a new private repository
(${provision.files} files, ${provision.kib.toFixed(0)} KiB) and a light class (\`tinyClass\`: Python's http.server,
\`git.allowedProtocols: [http]\`). API: \`POST /api/v1/provision\` as alice (the git server is asked
with her token, then the Workspace is written). Direct: the same Workspace (same class, repository and
clone Secret; every run checks that both objects' specs are equal) created through the API server, as
\`kubectl create\` would. Ready is when a watch on the namespace delivers the Ready condition (one
watch for both paths); then \`GET /\` on the workspace's host through the proxy, every 5 ms, until 200.
The two paths alternate first/second; each run's workspaces are deleted and waited gone before the
next. Milliseconds from the create call, median of ${RUNS}:

| path | create answered | Ready | first 200 (each run) | git steps: start + duration |
| --- | --- | --- | --- | --- |
${provRow("API: `POST /api/v1/provision`", provision.api)}
${provRow("direct: Workspace created through the API server", provision.direct)}

API ÷ direct, first 200: **${f2(provRatio)}** (median of per-run ratios; ratio of the medians ${f2(ratioOfMedians)}). The
API's create answer comes ${f0(pm(provision.api, (t) => t.created) - pm(provision.direct, (t) => t.created))} ms later than the direct one; its access check alone — the git server's
\`GET /api/v1/repos/alice/{repo}\` with alice's token, timed from the benchmark after each run — takes a median
${f0(med(provision.gitCheck))} ms.
The git steps — from the \`git-clone\` init container's "cloning" line to the \`git-checkout\`
container's "cloned" line, by the runner's log timestamps — take **${f0(pm([...provision.api, ...provision.direct], (t) => t.clone))} ms**, a median
${f0(cloneShare * 100)}% of the time to the first 200 (they start once the pod runs). They end a median
${f0(gitEnd)} ms after the create call and Ready follows ${f0(afterGit)} ms later, on both paths mostly the IDE's readiness
probe (\`initialDelaySeconds: 1\`, \`periodSeconds: 2\`, operator/workspace/build.ts). The API's own
\`GET /api/v1/workspaces/{ns}/{name}\`, polled every 100 ms, said RUNNING a median ${f0(apiLag)} ms after the
watch saw Ready.

**Lists with ${N} Workspaces in the caches** (stopped, ${USERS} users × ${PER_USER} in one namespace, alice one of them;
written as an admin through the API server in ${f0(loadSeconds)} s — the proxy's caches held them all ${cachesLag < 0.5 ? "at the first look after the last write" : `${cachesLag.toFixed(1)} s after the last write`} — each with the status the operator wrote for a
workspace it really stopped; the operator then stopped, so nothing else ran). The same client for
every row (\`e2e/bench/api-load.ts\`, its own process: undici, HTTP/1.1 keep-alive; the API server over
TLS with the admin's token, as it is always reached; the proxy over plain HTTP, as in the other
sections: TLS ends in front of it): ${SECONDS} s (at most 300 requests) one at a time (c=1), then 8 connections
back to back for ${SECONDS} s (c=8); ${ROUNDS} rounds, order alternating, medians shown. Every answer read
whole and checked 200; the item counts checked before. Ratio: this row ÷ the direct row of the same
size, median of per-round ratios (c=1 p50 latency / c=8 throughput). CPU: the serving process's
utime+stime over the whole measurement ÷ requests.

| request | c=1 p50 / p99 ms (n per round) | c=8 p50 / p99 ms | c=8 req/s | ÷ direct (p50 / req/s) | server CPU µs/req | answer |
| --- | --- | --- | --- | --- | --- | --- |
${listRows.join("\n")}

The direct path for alice's ${PER_USER} filters by a label the benchmark put on each Workspace
(\`${OWNER_LABEL}\`): Workspaces carry no owner label of their own and \`spec.owner\` is not a
selectable field of the CRD, so \`kubectl\` could only ask for the whole list. The direct LISTs were
answered by the API server from its watch cache (Kubernetes 1.34, consistent reads from cache): its
metrics counted ${served.cache} Workspace LISTs answered from the cache (${f0(served.cacheObjects)} objects returned) during the rounds,
and ${served.etcd} LISTs sent to etcd that fetched ${f0(served.etcdObjects)} objects in all${
  served.etcdObjects < served.etcd
    ? " — so no list's data came from etcd: these are the reads of etcd's current revision that a consistent read from the cache waits for, one per LIST"
    : ""
}.
<!-- api:end -->`;
log(`wrote ${await writeSection("api", section)}`);
process.exit(0);
