/**
 * What the console's clients need of a WebSocket and of time, so their reconnect logic runs under
 * node --test with fakes: the browser passes `new WebSocket(url)` and window's timers.
 */

/** An event handler property, checked bivariantly (as DOM handlers are) so the browser's WebSocket fits. */
type Handler<E> = { bivariant(ev: E): void }["bivariant"];

/** The part of the browser's WebSocket the clients use. */
export interface SocketLike {
  binaryType?: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  onclose: Handler<{ code: number; reason: string }> | null;
  onerror: Handler<unknown> | null;
}

export interface Clock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The ws:// or wss:// URL of `path` on the page's own origin. */
export function socketUrl(
  location: { protocol: string; host: string },
  path: string,
  query?: URLSearchParams,
): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const q = query && [...query.keys()].length ? `?${query}` : "";
  return `${scheme}//${location.host}${path}${q}`;
}

/** Parses a text frame as a JSON object with a string `type`; undefined for anything else. */
export function parseFrame<T extends { type: string }>(data: unknown): T | undefined {
  if (typeof data !== "string") return undefined;
  try {
    const v: unknown = JSON.parse(data);
    return v && typeof v === "object" && typeof (v as { type?: unknown }).type === "string"
      ? (v as T)
      : undefined;
  } catch {
    return undefined;
  }
}
