/**
 * /ws/shell: a terminal in a workspace's IDE container — Kubernetes exec with a TTY, as the proxy's
 * ServiceAccount, after ./target.ts found that the caller may manage the workspace and that the pod
 * is its own IDE pod (never its sync pod, never another pod the query names).
 *
 * Upstream speaks the channel protocol (v5.channel.k8s.io, v4 if the API server offers no v5): each
 * binary message starts with its channel — 0 stdin, 1 stdout, 2 stderr, 3 the exit status (a
 * Status object), 4 resize (`{"Width","Height"}`), 255 close (v5: `[255, 0]` is stdin's EOF). The
 * browser sends JSON text frames (ShellClientFrame) and gets the terminal's bytes as binary frames.
 *
 * Closing the browser's socket ends the remote process: stdin is closed (v5), the exec connection
 * closed, and — since a runtime may keep the process and its TTY alive after that (kwok does; so may
 * others for a dropped connection) — a second, plain exec hangs up the shell by the pid it printed
 * first (PidMark), then kills it if it lingers. A resize outside the protocol's
 * bounds, an over-long stdin frame or a malformed frame gets an error frame and changes nothing.
 */
import type { RawData, WebSocket } from "ws";
import type { Logger } from "../../common/runtime/log.ts";
import type { WsEndpoint } from "../surfaces/console.ts";
import { UpstreamError, type ConsoleCluster } from "./cluster.ts";
import { CLOSE, SHELL_MAX_COLS, SHELL_MAX_ROWS, SHELL_MAX_STDIN, type ShellServerFrame } from "./protocol.ts";
import { badFrames, errorFrame, guarded, keepAlive, parseFrame, send } from "./socket.ts";
import { isRefusal, parseTarget, resolveTarget, type ResolveDeps, type Resolved } from "./target.ts";
import type { ActivityTracker } from "../activity/tracker.ts";

// ─── pure parts ──────────────────────────────────────────────────────────────────────────────────

export const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, status: 3, resize: 4, close: 255 } as const;

/** The OSC sequence the shell's wrapper prints first: its pid (`ESC ] 7770 ; pid BEL`). */
// eslint-disable-next-line no-control-regex -- the mark is a terminal escape sequence
const PID_MARK = /^\x1b\]7770;(\d{1,10})\x07/;
const PID_MARK_MAX = 20;

/**
 * An interactive login shell: bash when the image has it, else sh. It first prints its pid as an
 * escape sequence the proxy strips (./shell.ts PidMark), so closing the terminal can hang it up even
 * where the runtime keeps it alive after the exec's connection goes. TERM is set when the runtime
 * gives none, so line editing and full-screen programs work in xterm.js.
 */
export const SHELL_COMMAND: readonly string[] = [
  "/bin/sh",
  "-c",
  'printf "\\033]7770;%s\\007" "$$"; export TERM="${TERM:-xterm-256color}"; ' +
    "command -v bash >/dev/null 2>&1 && exec bash -l; exec sh -l",
];

/**
 * Hangs up `pid` (the shell: `exec` kept the wrapper's pid) and its children, then kills it if it is
 * still there. Runs as the same user in the same container as the shell: it can reach nothing the
 * shell could not.
 */
export const hangUpCommand = (pid: number): string[] => [
  "/bin/sh",
  "-c",
  'pkill -HUP -P "$0" 2>/dev/null; kill -HUP "$0" 2>/dev/null || exit 0; sleep 2; kill -KILL "$0" 2>/dev/null; exit 0',
  String(pid),
];

/**
 * Reads the pid mark from the start of the TTY's output. Only the very first bytes count (stdin is
 * held until then, so nothing the user types can echo a fake one); anything else settles it without
 * a pid and is passed on untouched.
 */
export class PidMark {
  pid: number | undefined;
  settled = false;
  #head = Buffer.alloc(0);

  /** What of `data` goes to the browser (the mark removed). */
  take(data: Buffer): Buffer {
    this.#head = Buffer.concat([this.#head, data]);
    const text = this.#head.toString("latin1");
    const m = PID_MARK.exec(text);
    if (m) {
      this.pid = Number(m[1]);
      this.settled = true;
      return this.#head.subarray(m[0].length);
    }
    const prefix = "\x1b]7770;";
    const couldBe =
      this.#head.length < PID_MARK_MAX &&
      (prefix.startsWith(text) || (text.startsWith(prefix) && /^\d*$/.test(text.slice(prefix.length))));
    if (couldBe) return Buffer.alloc(0);
    this.settled = true;
    return this.#head;
  }
}

/** One channel message: the channel byte, then the data. Pure. */
export function encodeChannel(channel: number, data: Buffer | string): Buffer {
  const body = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = channel;
  body.copy(out, 1);
  return out;
}

/** A channel message's channel and data (undefined for an empty message). Pure. */
export function decodeChannel(msg: Buffer): { channel: number; data: Buffer } | undefined {
  if (msg.length < 1) return undefined;
  return { channel: msg[0]!, data: msg.subarray(1) };
}

/** The resize message of channel 4. Pure. */
export const resizeMessage = (cols: number, rows: number): Buffer =>
  encodeChannel(CHANNEL.resize, JSON.stringify({ Width: cols, Height: rows }));

/** v5's "stdin is done": the close channel naming stdin. */
export const STDIN_EOF = Buffer.from([CHANNEL.close, CHANNEL.stdin]);

/** Why a resize is refused, or undefined. Pure. */
export function resizeError(cols: unknown, rows: unknown): string | undefined {
  const ok = (n: unknown, max: number) => typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= max;
  if (!ok(cols, SHELL_MAX_COLS)) return `resize: cols must be a whole number from 1 to ${SHELL_MAX_COLS}`;
  if (!ok(rows, SHELL_MAX_ROWS)) return `resize: rows must be a whole number from 1 to ${SHELL_MAX_ROWS}`;
  return undefined;
}

export type ShellInput =
  | { type: "stdin"; data: Buffer }
  | { type: "resize"; cols: number; rows: number }
  | { type: "ping" }
  | { error: string; code: string };

/** A client frame (already JSON) checked against the protocol. Pure. */
export function shellInput(f: { type: string; [k: string]: unknown }): ShellInput {
  switch (f.type) {
    case "ping":
      return { type: "ping" };
    case "stdin": {
      if (typeof f.data !== "string") return { code: "bad_frame", error: "stdin: data must be a string" };
      if (Buffer.byteLength(f.data, "utf8") > SHELL_MAX_STDIN)
        return {
          code: "too_large",
          error: `stdin: at most ${SHELL_MAX_STDIN} bytes per frame: send it in parts`,
        };
      return { type: "stdin", data: Buffer.from(f.data, "utf8") };
    }
    case "resize": {
      const why = resizeError(f.cols, f.rows);
      if (why) return { code: "bad_frame", error: why };
      return { type: "resize", cols: f.cols as number, rows: f.rows as number };
    }
    default:
      return { code: "bad_frame", error: `${f.type}: not a frame of the shell (stdin, resize, ping)` };
  }
}

/** The exit code and message of the status channel's Status object. Pure. */
export function exitOf(data: Buffer): { code: number; message: string } {
  let s: {
    status?: string;
    message?: string;
    reason?: string;
    details?: { causes?: { reason?: string; message?: string }[] };
  };
  try {
    s = JSON.parse(data.toString("utf8")) as typeof s;
  } catch {
    return { code: -1, message: "the exec ended with an unreadable status" };
  }
  if (s.status === "Success") return { code: 0, message: "the shell exited" };
  const cause = s.details?.causes?.find((c) => c.reason === "ExitCode");
  // Runtimes that report no ExitCode cause (kwok) still say "exit status N" in the message.
  const said = /exit status (\d+)/.exec(s.message ?? "")?.[1];
  const code =
    cause?.message !== undefined && /^\d+$/.test(cause.message)
      ? Number(cause.message)
      : said
        ? Number(said)
        : -1;
  return { code, message: (s.message ?? "the exec failed").slice(0, 500) };
}

// ─── the endpoint ────────────────────────────────────────────────────────────────────────────────

export interface ShellDeps {
  resolve: ResolveDeps;
  cluster: ConsoleCluster;
  log: Logger;
  /** Issue 15: an open stream is the workspace's console activity (proxy/activity/). */
  activity?: Pick<ActivityTracker, "hold">;
  pingMs?: number;
}

/** Bytes queued to a browser beyond which the exec's output pauses. */
const HIGH_WATER = 1024 * 1024;
/** Stdin typed before the exec is open is kept up to this, then refused. */
const MAX_PENDING = SHELL_MAX_STDIN;

export function shellEndpoint(deps: ShellDeps): WsEndpoint {
  const checked = new WeakMap<URLSearchParams, Resolved>();
  return {
    async check(who, query) {
      const q = parseTarget(query, "shell");
      if (isRefusal(q)) return q;
      const target = await resolveTarget(deps.resolve, who, q, "shell");
      if (isRefusal(target)) return target;
      checked.set(query, target);
      return undefined;
    },
    open(ws, who, query) {
      const target = checked.get(query);
      if (!target) return ws.close(CLOSE.serverError, "not checked");
      deps.log.info("console shell opened", {
        user: who.user,
        pod: `${target.namespace}/${target.pod}`,
        container: target.container,
      });
      if (deps.activity) ws.once("close", deps.activity.hold(target.namespace, target.workspace, "console"));
      serve(deps, ws, target);
    },
  };
}

function serve(deps: ShellDeps, ws: WebSocket, target: Resolved): void {
  keepAlive(ws, deps.pingMs);
  const bad = badFrames(ws);
  let up: WebSocket | undefined;
  /** Stdin waits until the shell said its pid: the mark must be the first thing the TTY prints. */
  let pending: Buffer[] | undefined = [];
  let pendingBytes = 0;
  let size: Buffer | undefined;
  let browserClosed = false;
  let exited = false;
  const mark = new PidMark();
  // A resize before the exec opened is remembered in `size` and sent once it has: nothing to send to yet.
  const toUp = (b: Buffer) => {
    if (up !== undefined && up.readyState === up.OPEN) up.send(b);
  };

  ws.on(
    "message",
    guarded(ws, deps.log, "console shell", (data: RawData, isBinary: boolean) => {
      const f = parseFrame(data, isBinary);
      if (typeof f === "string") return bad(f);
      const input = shellInput(f);
      if ("error" in input) return bad(input.error, input.code);
      if (input.type === "ping") return send(ws, { type: "pong" } satisfies ShellServerFrame);
      if (input.type === "resize") {
        size = resizeMessage(input.cols, input.rows);
        return void toUp(size);
      }
      const msg = encodeChannel(CHANNEL.stdin, input.data);
      if (!pending) return void toUp(msg);
      if (pendingBytes + msg.length > MAX_PENDING)
        return send(
          ws,
          errorFrame("too_large", "the terminal is still connecting: wait for ready before typing more"),
        );
      pending.push(msg);
      pendingBytes += msg.length;
    }),
  );
  const flush = () => {
    for (const m of pending ?? []) toUp(m);
    pending = undefined;
  };

  ws.once("close", () => {
    browserClosed = true;
    if (up) closeUp(up);
    // The exec's end does not reliably end the process (a runtime may keep the TTY open): hang it up.
    if (!exited && mark.pid !== undefined) void hangUp(deps, target, mark.pid);
  });

  deps.cluster.exec(target.namespace, target.pod, target.container, SHELL_COMMAND).then(
    (u) => {
      if (browserClosed) return closeUp(u);
      up = u;
      send(ws, { type: "ready", pod: target.pod, container: target.container } satisfies ShellServerFrame);
      if (size) u.send(size);
      u.on(
        "message",
        guarded(ws, deps.log, "console shell (exec)", (data: Buffer, isBinary: boolean) => {
          const m = decodeChannel(isBinary ? data : Buffer.from(data));
          if (!m) return;
          if (m.channel === CHANNEL.stdout || m.channel === CHANNEL.stderr) {
            const out = mark.settled ? m.data : mark.take(m.data);
            if (mark.settled && pending) flush();
            if (out.length === 0 || ws.readyState !== ws.OPEN) return;
            ws.send(out, { binary: true }, () => {
              if (u.isPaused && ws.bufferedAmount < HIGH_WATER / 2) u.resume();
            });
            if (ws.bufferedAmount > HIGH_WATER) u.pause();
          } else if (m.channel === CHANNEL.status) {
            exited = true;
            send(ws, { type: "exit", ...exitOf(m.data) } satisfies ShellServerFrame);
            ws.close(1000, "exited");
          }
        }),
      );
      u.on("error", (err) => deps.log.warn("console shell: exec connection failed", { err: String(err) }));
      u.once("close", () => {
        if (exited || browserClosed) return;
        send(ws, {
          type: "exit",
          code: -1,
          message: "the connection to the pod closed",
        } satisfies ShellServerFrame);
        ws.close(1000, "exec closed");
      });
    },
    (err: unknown) => failed(deps, ws, err, browserClosed),
  );
}

/** Ends the exec: stdin's EOF (v5), then the connection itself. */
function closeUp(u: WebSocket): void {
  if (u.readyState !== u.OPEN) return u.terminate();
  if (u.protocol === "v5.channel.k8s.io") u.send(STDIN_EOF);
  u.close(1000);
  setTimeout(() => u.terminate(), 5000).unref();
}

/** A second, plain exec in the same container that hangs up the shell (and what it runs). */
async function hangUp(deps: ShellDeps, target: Resolved, pid: number): Promise<void> {
  try {
    const u = await deps.cluster.exec(target.namespace, target.pod, target.container, hangUpCommand(pid), {
      tty: false,
    });
    u.on("message", () => undefined);
    const t = setTimeout(() => u.terminate(), 15_000);
    t.unref();
    u.once("close", () => clearTimeout(t));
  } catch (err) {
    deps.log.warn("console shell: could not hang up the shell", { pod: target.pod, err: String(err) });
  }
}

function failed(deps: ShellDeps, ws: WebSocket, err: unknown, browserClosed: boolean): void {
  const status = err instanceof UpstreamError ? err.status : 0;
  deps.log.warn("console shell: exec failed", { status, err: String(err) });
  if (browserClosed) return;
  const gone = status === 404 || status === 400;
  const message = gone
    ? `the terminal could not start: ${(err as Error).message}`
    : status === 403
      ? "this Portico may not open terminals (the proxy's RBAC lacks pods/exec): ask your platform team"
      : "the cluster could not open the terminal; retry";
  send(ws, errorFrame(gone ? "not_found" : "unavailable", message));
  ws.close(gone ? CLOSE.gone : CLOSE.serverError, "exec failed");
}
