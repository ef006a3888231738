/**
 * The clocks of `npm run bench:start` (start.ts): what happened to one workspace's start, and when,
 * in ms since the epoch on this machine's clock (the benchmark, the API server, the pod runner and
 * the IDEs all run on it).
 *
 * - Watches on the namespace's Workspaces and pods: each event's arrival time (ms; the API server
 *   writes its own times to the second only, too coarse here).
 * - The API server's audit log: when the operator's writes reached it (µs).
 * - The pod runner's log: when it spawned the IDE's process (its `started container` line, ms).
 * - Two pollers, every 20 ms: the IDE's readiness path directly at the pod address (when the IDE
 *   itself first answered, independent of the readiness probe's 2 s period), and the same path
 *   through the proxy (when the proxy first routed it: the first 200).
 */
import { readFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { GROUP, VERSION, WORKSPACE, type Workspace } from "../../crds/types.ts";
import { WOKEN_ANNOTATION, isIdleStopped } from "../../common/model/workspace/lifecycle.ts";
import { IDE_CONTAINER, WORKSPACE_LABEL } from "../../common/model/workspace/names.ts";
import type { Clients } from "../lib/kube.ts";
import { OPERATOR_USER, auditWrites, stateDir } from "../lib/operator.ts";
import { isReady } from "../lib/workspaces.ts";

/** Marks of one start (an apply or a wake) of one workspace. */
export interface Marks {
  /** t0: `kubectl apply` called (apply) or Chromium told to open the URL (wake). */
  t0: number;
  /** kubectl exited (apply). */
  applied?: number;
  /** The Workspace was first seen by the watch (apply). */
  wsSeen?: number;
  /**
   * The wake: the proxy's write of `portico.dev/woken` as the API server received it (audit log); the
   * watch's sight of it (the idle-stopped annotation gone) when the log has none.
   */
  woken?: number;
  /** The operator's first write for this start, and what it wrote (audit log). */
  opFirstWrite?: number;
  opFirstWhat?: string;
  /** The operator's pod create reached the API server (audit log). */
  podCreated?: number;
  /** The runner spawned the IDE's process (its log). */
  spawned?: number;
  /** The IDE first answered its readiness path at the pod address (poller). */
  answers?: number;
  /** The watch saw the pod Ready. */
  podReady?: number;
  /** The watch saw the Workspace Ready (this generation). */
  wsReady?: number;
  /** The proxy first answered the readiness path with 200 (poller). */
  routed?: number;
}

interface Tracked {
  marks: Marks;
  /** UIDs of pods from before this start (a wake's old pod, whose name the new one reuses): ignored. */
  oldPods: Set<string>;
  pod?: { name: string; ip?: string; port?: number; path?: string };
  waiters: (() => void)[];
  stopPollers: (() => void)[];
}

/** The API user the proxy runs as (e2e/lib/proxy.ts: the chart's ServiceAccount). */
const PROXY_USER = "system:serviceaccount:portico-system:portico-proxy";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** GET `url` (Host `host` when given, more `headers`) with a 2 s timeout; resolves with the status, 0 on error. */
export function httpStatus(
  url: string,
  host?: string,
  headers: Record<string, string> = {},
): Promise<number> {
  return new Promise((resolve) => {
    const req = request(
      url,
      { headers: { ...(host ? { host } : {}), accept: "application/json", ...headers }, timeout: 2000 },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve(0));
    req.end();
  });
}

/**
 * Polls `url` every 20 ms until it answers 200; returns when that answer arrived (not when it was
 * asked: a proxy may hold a request for a starting workspace until it is ready), or undefined when
 * stopped first.
 */
async function pollUntil200(
  url: string,
  host: string | undefined,
  stop: { stopped: boolean },
): Promise<number | undefined> {
  while (!stop.stopped) {
    if ((await httpStatus(url, host)) === 200) return Date.now();
    await sleep(20);
  }
  return undefined;
}

export class Timeline {
  readonly #c: Clients;
  readonly #ns: string;
  /** Where the proxy answers a workspace: base URL and Host header. */
  readonly #proxy: { url: string; hostFor: (ns: string, name: string) => string };
  readonly #tracked = new Map<string, Tracked>();
  readonly #aborts: AbortController[] = [];

  constructor(c: Clients, ns: string, proxy: { url: string; hostFor: (ns: string, name: string) => string }) {
    this.#c = c;
    this.#ns = ns;
    this.#proxy = proxy;
  }

  /** Opens the two watches (workspaces, pods); resolves once both are open. */
  async watch(): Promise<void> {
    const w = new k8s.Watch(this.#c.kc);
    // client-node ends a watch quiet for 30 s; these must last the whole benchmark.
    (w as unknown as { requestTimeoutMs: number }).requestTimeoutMs = 6 * 3_600_000;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each caller types its own object
    const reopen = (path: string, onEvent: (type: string, obj: any) => void) => {
      const open = async (): Promise<void> => {
        this.#aborts.push(
          await w.watch(path, {}, onEvent, (err) => {
            if (!this.#closed) void open().catch(() => undefined);
            void err;
          }),
        );
      };
      return open();
    };
    await reopen(`/apis/${GROUP}/${VERSION}/namespaces/${this.#ns}/${WORKSPACE.plural}`, (t, ws: Workspace) =>
      this.#onWorkspace(t, ws),
    );
    await reopen(`/api/v1/namespaces/${this.#ns}/pods`, (t, pod: k8s.V1Pod) => this.#onPod(t, pod));
  }

  #closed = false;
  close(): void {
    this.#closed = true;
    for (const a of this.#aborts) a.abort();
    for (const t of this.#tracked.values()) for (const s of t.stopPollers) s();
  }

  /** Starts recording a start of workspace `name` from t0 = now; `oldPods`: pod UIDs to ignore. */
  begin(name: string, oldPods: readonly string[] = []): Marks {
    const prev = this.#tracked.get(name);
    for (const s of prev?.stopPollers ?? []) s();
    const marks: Marks = { t0: Date.now() };
    this.#tracked.set(name, { marks, oldPods: new Set(oldPods), waiters: [], stopPollers: [] });
    return marks;
  }

  /** The IDE pod of the current start of `name`: name, address, readiness port and path. */
  pod(name: string): Tracked["pod"] {
    return this.#tracked.get(name)?.pod;
  }

  /** Stops the pollers of `name` (its start is measured). */
  end(name: string): void {
    const t = this.#tracked.get(name);
    for (const s of t?.stopPollers ?? []) s();
    if (t) t.stopPollers = [];
  }

  /** Waits until `key` is marked for `name`. */
  async until(name: string, key: keyof Marks, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const t = this.#tracked.get(name);
      const v = t?.marks[key];
      if (typeof v === "number") return v;
      if (Date.now() > deadline) throw new Error(`${name}: no ${key} within ${timeoutMs / 1000} s`);
      await Promise.race([new Promise<void>((r) => t?.waiters.push(r)), sleep(500)]);
    }
  }

  #mark(name: string, key: keyof Marks, at: number): void {
    const t = this.#tracked.get(name);
    if (!t || t.marks[key] !== undefined) return;
    (t.marks as unknown as Record<string, number>)[key] = at;
    for (const w of t.waiters.splice(0)) w();
  }

  #onWorkspace(type: string, ws: Workspace): void {
    const now = Date.now();
    const name = ws.metadata.name!;
    const t = this.#tracked.get(name);
    if (!t || type === "DELETED") return;
    this.#mark(name, "wsSeen", now);
    if (!isIdleStopped(ws) && ws.metadata.annotations?.[WOKEN_ANNOTATION]) this.#mark(name, "woken", now);
    if (isReady(ws) && ws.status?.phase === "Running") this.#mark(name, "wsReady", now);
    if (t.marks.wsReady !== undefined && t.marks.routed === undefined && t.pod?.path)
      this.#pollProxy(name, t);
  }

  #onPod(type: string, pod: k8s.V1Pod): void {
    const now = Date.now();
    const name = pod.metadata?.labels?.[WORKSPACE_LABEL];
    const t = name ? this.#tracked.get(name) : undefined;
    const podName = pod.metadata!.name!;
    if (
      !name ||
      !t ||
      type === "DELETED" ||
      t.oldPods.has(pod.metadata!.uid!) ||
      pod.metadata?.deletionTimestamp
    )
      return;
    // A sync pod carries its own label; only the IDE's pod has the ide container.
    const ide = pod.spec?.containers?.find((c) => c.name === IDE_CONTAINER);
    if (!ide) return;
    const http = ide.readinessProbe?.httpGet;
    t.pod ??= {
      name: podName,
      path: http?.path ?? "/",
      port: Number(http?.port ?? ide.ports?.[0]?.containerPort),
    };
    if (pod.status?.podIP && !t.pod.ip) {
      t.pod.ip = pod.status.podIP;
      this.#pollPod(name, t);
    }
    if (pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) {
      this.#mark(name, "podReady", now);
      this.#pollProxy(name, t);
    }
  }

  /** The IDE itself: its readiness path at the pod address, from the moment the pod has one. */
  #pollPod(name: string, t: Tracked): void {
    const stop = { stopped: false };
    t.stopPollers.push(() => (stop.stopped = true));
    const p = t.pod!;
    void pollUntil200(`http://${p.ip}:${p.port}${p.path}`, undefined, stop).then((at) => {
      if (at !== undefined && this.#tracked.get(name) === t) this.#mark(name, "answers", at);
    });
  }

  #proxyPolling = new WeakSet<Tracked>();
  /** The proxy: the same path on the workspace's host, from the pod Ready on, until the first 200. */
  #pollProxy(name: string, t: Tracked): void {
    if (this.#proxyPolling.has(t) || !t.pod?.path) return;
    this.#proxyPolling.add(t);
    const stop = { stopped: false };
    t.stopPollers.push(() => (stop.stopped = true));
    void pollUntil200(`${this.#proxy.url}${t.pod.path}`, this.#proxy.hostFor(this.#ns, name), stop).then(
      (at) => {
        if (at !== undefined && this.#tracked.get(name) === t) this.#mark(name, "routed", at);
      },
    );
  }

  /** Fills the marks from the logs (audit: the operator's writes; runner: the spawn) once the start is done. */
  async fromLogs(name: string): Promise<Marks> {
    const t = this.#tracked.get(name)!;
    const m = t.marks;
    const writes = (await auditWrites(OPERATOR_USER, new Date(m.t0 - 1))).filter(
      (e) => e.objectRef?.namespace === this.#ns && e.responseStatus?.code !== 409,
    );
    const first = writes[0];
    if (first) {
      m.opFirstWrite = Date.parse(first.requestReceivedTimestamp);
      const ref = first.objectRef!;
      m.opFirstWhat = `${first.verb} ${ref.resource}${ref.subresource ? `/${ref.subresource}` : ""}`;
    }
    // The operator creates children by server-side apply: a patch that creates the pod.
    const pod = writes.find(
      (e) =>
        (e.verb === "create" || e.verb === "patch") &&
        e.objectRef?.resource === "pods" &&
        !e.objectRef.subresource &&
        e.objectRef.name === t.pod?.name,
    );
    if (pod) m.podCreated = Date.parse(pod.requestReceivedTimestamp);
    // A wake: the proxy's write (the woken annotation) as the API server received it, when there is one.
    if (m.woken !== undefined) {
      const wake = (await auditWrites(PROXY_USER, new Date(m.t0 - 1))).find(
        (e) =>
          e.objectRef?.namespace === this.#ns &&
          e.objectRef.resource === "workspaces" &&
          e.objectRef.name === name,
      );
      if (wake) m.woken = Date.parse(wake.requestReceivedTimestamp);
    }
    m.spawned = await spawnTime(`${this.#ns}/${t.pod?.name}`, m.t0);
    return m;
  }
}

/** The runner's `started container` time for the IDE container of pod `key` (ns/name), after `since`. */
async function spawnTime(key: string, since: number): Promise<number | undefined> {
  const text = await readFile(join(stateDir(), "logs", "runner.log"), "utf8");
  let at: number | undefined;
  for (const line of text.split("\n")) {
    if (!line.includes('"started container"') || !line.includes(key)) continue;
    const e = JSON.parse(line) as { time: string; pod: string; container: string };
    const t = Date.parse(e.time);
    if (e.pod === key && e.container === IDE_CONTAINER && t >= since) at ??= t;
  }
  return at;
}
