/**
 * The /ws/logs client: follows one pod's log, reconnecting with capped backoff and resuming with
 * `since=` the last line's time (lib/log-lines.ts drops the repeats). It gives up — no reconnect —
 * when the server says the pod is no longer the caller's (4403), gone (4404), or the client broke
 * the protocol (1008): reconnecting would only be refused again.
 */
import {
  CLOSE,
  LOGS_DEFAULT_TAIL,
  LOGS_PATH,
  PING_INTERVAL_MS,
  PONG_TIMEOUT_MS,
  type LogsServerFrame,
} from "../../protocol.ts";
import { backoffDelay } from "./backoff.ts";
import { acceptLine, classify, noResume, type LogLine, type Resume } from "./log-lines.ts";
import { parseFrame, socketUrl, type Clock, type SocketLike } from "./socket.ts";

export interface LogsEvents {
  lines(lines: LogLine[]): void;
  /** A short sentence for the status line (aria-live). */
  status(text: string, state: "connecting" | "following" | "waiting" | "ended" | "offline" | "closed"): void;
}

export interface LogsClientDeps {
  connect(url: string): SocketLike;
  clock: Clock;
  random(): number;
  location: { protocol: string; host: string };
}

/** Close codes after which reconnecting is pointless. */
export const FINAL_CLOSE_CODES: readonly number[] = [CLOSE.forbidden, CLOSE.gone, CLOSE.policy];

/** The URL of a follow from `resume` (a first connect: the tail; a reconnect: since the last line). */
export function logsUrl(
  location: { protocol: string; host: string },
  workspace: string,
  resume: Resume,
  container?: string,
): string {
  const q = new URLSearchParams({ workspace });
  if (container) q.set("container", container);
  if (resume.since) q.set("since", resume.since);
  else q.set("tail", String(LOGS_DEFAULT_TAIL));
  return socketUrl(location, LOGS_PATH, q);
}

export class LogsClient {
  private readonly deps: LogsClientDeps;
  private readonly workspace: string;
  private readonly on: LogsEvents;
  private resume: Resume = noResume();
  private socket: SocketLike | undefined;
  private stopped = true;
  private attempt = 0;
  private seq = 0;
  private timers: unknown[] = [];

  constructor(deps: LogsClientDeps, workspace: string, on: LogsEvents) {
    this.deps = deps;
    this.workspace = workspace;
    this.on = on;
  }

  start(): void {
    this.stopped = false;
    this.dial();
  }

  stop(): void {
    this.stopped = true;
    this.clear();
    const ws = this.socket;
    this.socket = undefined;
    ws?.close(1000);
  }

  private clear(): void {
    for (const t of this.timers) this.deps.clock.clearTimeout(t);
    this.timers = [];
  }

  private dial(): void {
    const { clock } = this.deps;
    this.on.status(this.attempt ? "reconnecting…" : "connecting…", "connecting");
    let ws: SocketLike;
    try {
      ws = this.deps.connect(logsUrl(this.deps.location, this.workspace, this.resume));
    } catch {
      return this.closed(1006);
    }
    this.socket = ws;
    let pong: unknown;
    const ping = () => {
      this.timers.push(
        clock.setTimeout(() => {
          ws.send(JSON.stringify({ type: "ping" }));
          pong = clock.setTimeout(() => ws.close(4000, "no pong"), PONG_TIMEOUT_MS);
          this.timers.push(pong);
          ping();
        }, PING_INTERVAL_MS),
      );
    };
    ws.onopen = () => ping();
    ws.onmessage = (ev) => {
      if (this.socket !== ws) return;
      const f = parseFrame<LogsServerFrame>(ev.data);
      if (!f) return;
      this.attempt = 0;
      if (f.type === "pong") clock.clearTimeout(pong);
      else if (f.type === "line") this.line(f.text, f.time);
      else if (f.type === "status") this.on.status(f.message || f.state, f.state);
      else this.on.status(f.message, "offline");
    };
    ws.onclose = (ev) => {
      if (this.socket === ws) this.closed(ev.code, ev.reason);
    };
    ws.onerror = () => undefined;
  }

  private line(text: string, time: string): void {
    const next = acceptLine(this.resume, text, time);
    if (!next) return;
    this.resume = next;
    this.on.lines([{ text, time, level: classify(text), seq: this.seq++ }]);
  }

  private closed(code: number, reason = ""): void {
    this.socket = undefined;
    this.clear();
    if (this.stopped) return;
    if (FINAL_CLOSE_CODES.includes(code)) {
      this.stopped = true;
      return this.on.status(reason || `the log stream ended (${code})`, "closed");
    }
    const delay = backoffDelay(this.attempt++, this.deps.random());
    this.on.status(`connection lost; retrying in ${Math.ceil(delay / 1000)} s`, "offline");
    this.timers.push(this.deps.clock.setTimeout(() => this.stopped || this.dial(), delay));
  }
}
