/**
 * What the log and shell sockets share: the server's ping (a peer that stops answering is cut, so a
 * vanished browser never keeps a log follow or a shell open upstream), JSON frames out, and the rule
 * for bad frames in (an `error` frame each, the connection kept; a client that keeps at it: 1008).
 */
import type { RawData, WebSocket } from "ws";
import type { Logger } from "../../common/runtime/log.ts";
import { CLOSE, PING_INTERVAL_MS, type ErrorFrame } from "./protocol.ts";

/** Bad frames a client may send before it is closed with 1008. */
export const MAX_BAD_FRAMES = 10;

export function send(ws: WebSocket, frame: object, cb?: (err?: Error) => void): void {
  if (ws.readyState !== ws.OPEN) return;
  ws.send(JSON.stringify(frame), cb);
}

export const errorFrame = (code: string, message: string): ErrorFrame => ({ type: "error", code, message });

/** Pings every `intervalMs`; a peer that did not answer the previous ping is terminated. Returns stop. */
export function keepAlive(ws: WebSocket, intervalMs = PING_INTERVAL_MS): () => void {
  let alive = true;
  ws.on("pong", () => (alive = true));
  const timer = setInterval(() => {
    if (!alive) return ws.terminate();
    alive = false;
    ws.ping();
  }, intervalMs);
  timer.unref();
  const stop = () => clearInterval(timer);
  ws.once("close", stop);
  return stop;
}

/** Counts a client's bad frames: each gets an error frame; past the bound the socket closes 1008. */
export function badFrames(ws: WebSocket, max = MAX_BAD_FRAMES): (message: string, code?: string) => void {
  let count = 0;
  return (message, code = "bad_frame") => {
    count++;
    send(ws, errorFrame(code, message));
    if (count > max) ws.close(CLOSE.policy, "too many bad frames");
  };
}

/**
 * A client's text frame as an object with a string `type`, or why not. Binary frames, non-JSON and
 * objects without a type are refused. Pure.
 */
export function parseFrame(
  data: RawData,
  isBinary: boolean,
): { type: string; [k: string]: unknown } | string {
  if (isBinary) return "binary frames are not part of this protocol: send JSON text frames";
  const text = Array.isArray(data)
    ? Buffer.concat(data).toString("utf8")
    : Buffer.from(data as ArrayBuffer).toString("utf8");
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return "not JSON: every frame is one JSON object with a type";
  }
  if (
    typeof v !== "object" ||
    v === null ||
    Array.isArray(v) ||
    typeof (v as { type?: unknown }).type !== "string"
  )
    return "a frame is a JSON object with a string type";
  return v as { type: string };
}

/** A wait that ends early when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * A socket event handler that cannot take the proxy down: an exception in it (a bug) is logged and
 * closes this one socket with 1011. Unguarded, it is an uncaught exception that ends the process and
 * every user's connections with it (a resize sent before the exec opened did, once).
 */
export function guarded<A extends unknown[]>(
  ws: WebSocket,
  log: Logger,
  what: string,
  handler: (...args: A) => void,
): (...args: A) => void {
  return (...args) => {
    try {
      handler(...args);
    } catch (err) {
      log.error(`${what}: a handler failed; closing this socket only`, {
        err: err instanceof Error ? (err.stack ?? err.message) : String(err),
      });
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING)
        ws.close(CLOSE.serverError, "internal error");
    }
  };
}
