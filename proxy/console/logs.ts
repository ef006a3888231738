/**
 * /ws/logs: follows a container's log of a workspace's own pod (./target.ts decides which, and
 * whether the caller may), one `line` frame per line with the kubelet's timestamp.
 *
 * Upstream is one streamed GET of pods/log (`follow=true&timestamps=true`) as the proxy's
 * ServiceAccount. It is aborted the moment the browser's socket closes. A container that has not
 * started is waited for (`waiting`, retried with capped backoff); one that stops says `ended` and is
 * followed again when it restarts. Every reconnect upstream checks the target again, so a workspace
 * taken away (4403) or deleted (4404) closes the socket. Resuming (`since`, or after an upstream
 * end) asks from that second on and drops the replay up to the last line sent (ResumeFilter): no
 * line twice.
 */
import type { IncomingMessage } from "node:http";
import { StringDecoder } from "node:string_decoder";
import type { RawData, WebSocket } from "ws";
import type { Logger } from "../../common/runtime/log.ts";
import { backoffDelayMs } from "../../common/runtime/backoff.ts";
import type { Identity } from "../auth/identity.ts";
import type { Refusal } from "../http/request.ts";
import type { WsEndpoint } from "../surfaces/console.ts";
import { UpstreamError, type ConsoleCluster } from "./cluster.ts";
import { CLOSE, LOGS_DEFAULT_TAIL, LOGS_MAX_LINE, LOGS_MAX_TAIL, type LogsServerFrame } from "./protocol.ts";
import { badFrames, errorFrame, guarded, keepAlive, parseFrame, send, sleep } from "./socket.ts";
import {
  badQuery,
  isRefusal,
  parseTarget,
  resolveTarget,
  type ResolveDeps,
  type Resolved,
  type TargetQuery,
} from "./target.ts";
import type { ActivityTracker } from "../activity/tracker.ts";

// ─── pure parts ──────────────────────────────────────────────────────────────────────────────────

export interface LogsOptions {
  tail: number;
  /** Resume after this line time (RFC 3339, any fraction). */
  since?: string;
}

const RFC3339 = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/;

/** `tail` and `since` from the query, or a 400 naming the parameter. Pure. */
export function parseLogsOptions(query: URLSearchParams): LogsOptions | Refusal {
  const tailRaw = query.get("tail");
  let tail = LOGS_DEFAULT_TAIL;
  if (tailRaw !== null) {
    if (!/^\d{1,7}$/.test(tailRaw) || Number(tailRaw) > LOGS_MAX_TAIL)
      return badQuery(`tail: must be a whole number from 0 to ${LOGS_MAX_TAIL}`);
    tail = Number(tailRaw);
  }
  const since = query.get("since");
  if (since === null) return { tail };
  if (!RFC3339.test(since) || Number.isNaN(Date.parse(since)))
    return badQuery("since: must be an RFC 3339 time, the `time` of the last line you got");
  return { tail, since };
}

/** A time as [epoch seconds, nanoseconds], for exact comparison (fractions differ in length). Pure. */
export function timeKey(t: string): [number, number] | undefined {
  const m = RFC3339.exec(t);
  if (!m) return undefined;
  const secs = Date.parse(`${m[1]}${m[3]}`) / 1000;
  if (Number.isNaN(secs)) return undefined;
  const frac = (m[2] ?? ".").slice(1).padEnd(9, "0");
  return [secs, Number(frac)];
}

/** -1, 0 or 1 as time `a` is before, at or after `b`; an unreadable time counts as after. Pure. */
export function compareTimes(a: string, b: string): number {
  const ka = timeKey(a);
  const kb = timeKey(b);
  if (!ka || !kb) return 1;
  const d = ka[0] !== kb[0] ? ka[0] - kb[0] : ka[1] - kb[1];
  return Math.sign(d);
}

/** Where a follow resumes: lines up to `time` were sent, the last `skip` of them at exactly `time`. */
export interface ResumePoint {
  time: string;
  skip: number;
}

/**
 * Which lines of a (re)started stream to send: pods/log resumes from a whole second, so the replay
 * is dropped up to the resume point. Lines may share a timestamp (a runtime with millisecond clocks
 * writes several in one): the point counts how many at its time were sent, so the next one at that
 * time still goes. A client's `since` has no count: every line at that time counts as sent.
 */
export class ResumeFilter {
  #from: ResumePoint | undefined;
  #seenAtFrom = 0;
  #last: ResumePoint | undefined;

  constructor(from?: ResumePoint) {
    this.#from = from;
    this.#last = from;
  }

  /** Whether the line stamped `time` is sent; a sent line moves the point. */
  admit(time: string): boolean {
    if (this.#from && time) {
      const c = compareTimes(time, this.#from.time);
      if (c < 0) return false;
      if (c === 0 && this.#seenAtFrom < this.#from.skip) {
        this.#seenAtFrom++;
        return false;
      }
      this.#from = undefined;
    }
    if (time)
      this.#last =
        this.#last && compareTimes(time, this.#last.time) === 0
          ? { time, skip: this.#last.skip + 1 }
          : { time, skip: 1 };
    return true;
  }

  /** Where the next stream resumes (undefined: nothing sent or asked yet). */
  get point(): ResumePoint | undefined {
    return this.#last;
  }
}

/** `t` cut to whole seconds in UTC, as pods/log's sinceTime takes it. Pure. */
export function wholeSeconds(t: string): string {
  const k = timeKey(t);
  if (!k) return t;
  return new Date(k[0] * 1000).toISOString().replace(/\.\d+Z$/, "Z");
}

export interface LogLine {
  time: string;
  text: string;
  truncated: boolean;
}

/** `2026-01-02T03:04:05.123456789Z some text` → its time and text (no timestamp: time ""). Pure. */
export function splitTimestamp(line: string): { time: string; text: string } {
  const sp = line.indexOf(" ");
  const head = sp < 0 ? line : line.slice(0, sp);
  if (RFC3339.test(head)) return { time: head, text: sp < 0 ? "" : line.slice(sp + 1) };
  return { time: "", text: line };
}

/**
 * Cuts a byte stream into lines: chunks may end mid-line or mid-character. A line longer than
 * `max` characters keeps its start and is flagged; the rest up to its newline is dropped, so a
 * process that never prints a newline cannot grow the buffer.
 */
export class LineSplitter {
  readonly #max: number;
  readonly #decoder = new StringDecoder("utf8");
  #buf = "";
  #cut = false;

  constructor(max = LOGS_MAX_LINE + 40) {
    this.#max = max;
  }

  push(chunk: Buffer | string): LogLine[] {
    const text = typeof chunk === "string" ? chunk : this.#decoder.write(chunk);
    const out: LogLine[] = [];
    let start = 0;
    for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", start)) {
      this.#add(text.slice(start, nl));
      out.push(this.#take());
      start = nl + 1;
    }
    this.#add(text.slice(start));
    return out;
  }

  /** The last line when the stream ended without a newline. */
  end(): LogLine[] {
    this.#add(this.#decoder.end());
    return this.#buf || this.#cut ? [this.#take()] : [];
  }

  #add(s: string) {
    if (this.#cut || !s) return;
    const room = this.#max - this.#buf.length;
    if (s.length > room) {
      this.#buf += s.slice(0, room);
      this.#cut = true;
    } else this.#buf += s;
  }

  #take(): LogLine {
    const line = this.#buf.endsWith("\r") ? this.#buf.slice(0, -1) : this.#buf;
    const { time, text } = splitTimestamp(line);
    const truncated = this.#cut || text.length > LOGS_MAX_LINE;
    this.#buf = "";
    this.#cut = false;
    return { time, text: text.length > LOGS_MAX_LINE ? text.slice(0, LOGS_MAX_LINE) : text, truncated };
  }
}

// ─── the endpoint ────────────────────────────────────────────────────────────────────────────────

export interface LogsDeps {
  resolve: ResolveDeps;
  cluster: ConsoleCluster;
  log: Logger;
  /** Issue 15: an open stream is the workspace's console activity (proxy/activity/). */
  activity?: Pick<ActivityTracker, "hold">;
  /** Backoff of retries while waiting (container not started, cluster unreachable). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  pingMs?: number;
}

/** Bytes queued to a browser beyond which the upstream read pauses (a slow browser slows the log). */
const HIGH_WATER = 1024 * 1024;

interface Checked {
  q: TargetQuery;
  opts: LogsOptions;
  target: Resolved;
}

export function logsEndpoint(deps: LogsDeps): WsEndpoint {
  // check() and open() get the same URLSearchParams: what check resolved is what open follows.
  const checked = new WeakMap<URLSearchParams, Checked>();
  return {
    async check(who, query) {
      const q = parseTarget(query, "logs");
      if (isRefusal(q)) return q;
      const opts = parseLogsOptions(query);
      if (isRefusal(opts)) return opts;
      const target = await resolveTarget(deps.resolve, who, q, "logs");
      if (isRefusal(target)) return target;
      checked.set(query, { q, opts, target });
      return undefined;
    },
    open(ws, who, query) {
      const c = checked.get(query);
      if (!c) return ws.close(CLOSE.serverError, "not checked");
      if (deps.activity)
        ws.once("close", deps.activity.hold(c.target.namespace, c.target.workspace, "console"));
      void follow(deps, ws, who, c);
    },
  };
}

/** Serves one socket until it closes: the upstream follow, retried, re-checked on every reconnect. */
async function follow(deps: LogsDeps, ws: WebSocket, who: Identity, c: Checked): Promise<void> {
  const closed = new AbortController();
  ws.once("close", () => closed.abort());
  keepAlive(ws, deps.pingMs);
  const bad = badFrames(ws);
  ws.on(
    "message",
    guarded(ws, deps.log, "console logs", (data: RawData, isBinary: boolean) => {
      const f = parseFrame(data, isBinary);
      if (typeof f === "string") return bad(f);
      if (f.type === "ping") return send(ws, { type: "pong" } satisfies LogsServerFrame);
      bad(`${f.type}: the logs socket takes only ping`);
    }),
  );
  let target = c.target;
  let last: ResumePoint | undefined = c.opts.since ? { time: c.opts.since, skip: Infinity } : undefined;
  let failures = 0;
  const status = (state: "following" | "waiting" | "ended", message: string) =>
    send(ws, {
      type: "status",
      state,
      pod: target.pod,
      container: target.container,
      message,
    } satisfies LogsServerFrame);
  const retry = () =>
    sleep(backoffDelayMs(++failures, deps.retryBaseMs ?? 500, deps.retryMaxMs ?? 10_000, 0.2), closed.signal);
  for (let first = true; !closed.signal.aborted; first = false) {
    if (!first) {
      const again = await recheck(deps, who, c.q).catch(() => undefined);
      if (closed.signal.aborted) break;
      if (again && isRefusal(again) && (again.status === 403 || again.status === 404)) {
        send(ws, errorFrame(again.body.error, again.body.message));
        ws.close(again.status === 403 ? CLOSE.forbidden : CLOSE.gone, again.body.error);
        break;
      }
      if (again && !isRefusal(again)) target = again;
    }
    if (!target.exists) {
      status(
        "waiting",
        `pod ${target.pod} does not exist yet (the workspace is not running); waiting for it`,
      );
      await retry();
      continue;
    }
    let res: IncomingMessage;
    try {
      res = await deps.cluster.followLog(
        target.namespace,
        target.pod,
        last !== undefined
          ? { container: target.container, sinceTime: wholeSeconds(last.time), tailLines: LOGS_MAX_TAIL }
          : { container: target.container, tailLines: c.opts.tail },
        closed.signal,
      );
    } catch (err) {
      if (closed.signal.aborted) break;
      const message =
        err instanceof UpstreamError && (err.status === 400 || err.status === 404)
          ? `no log yet: ${err.message}`
          : "the cluster could not be asked for the log; retrying";
      if (!(err instanceof UpstreamError))
        deps.log.warn("console logs: upstream failed", { err: String(err) });
      status("waiting", message);
      await retry();
      continue;
    }
    failures = 0;
    status("following", `following ${target.pod}/${target.container}`);
    last = await pump(ws, res, last);
    if (closed.signal.aborted) break;
    status("ended", `the container ${target.container} stopped; following again if it restarts`);
    await retry();
  }
}

const recheck = async (deps: LogsDeps, who: Identity, q: TargetQuery) =>
  resolveTarget(deps.resolve, who, q, "logs");

/** Sends the stream's lines after `from` until it ends; returns where the next one resumes. */
function pump(
  ws: WebSocket,
  res: IncomingMessage,
  from: ResumePoint | undefined,
): Promise<ResumePoint | undefined> {
  const lines = new LineSplitter();
  const filter = new ResumeFilter(from);
  const emit = (l: LogLine) => {
    if (!filter.admit(l.time)) return;
    const frame: LogsServerFrame = {
      type: "line",
      text: l.text,
      time: l.time,
      ...(l.truncated ? { truncated: true } : {}),
    };
    send(ws, frame, () => {
      if (res.isPaused() && ws.bufferedAmount < HIGH_WATER / 2) res.resume();
    });
    if (ws.bufferedAmount > HIGH_WATER) res.pause();
  };
  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      for (const l of lines.end()) emit(l);
      resolve(filter.point);
    };
    res.on("data", (chunk: Buffer) => {
      for (const l of lines.push(chunk)) emit(l);
    });
    res.once("end", finish);
    res.once("close", finish);
    res.once("error", finish);
  });
}
