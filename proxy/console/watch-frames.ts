/**
 * What a /ws/watch client may send, checked before anything acts on it, and the per-socket flood
 * allowance. Pure: a frame's bytes in, a frame or a coded refusal out (protocol.ts ErrorFrame codes).
 */
import { CHANNELS, type Channel, type WatchClientFrame } from "./protocol.ts";

/** Largest client frame: a subscribe is about 200 bytes. */
export const MAX_WATCH_FRAME = 4096;
/** The client's subscription ids (protocol.ts). */
export const SUBSCRIPTION_ID = /^[A-Za-z0-9_.-]{1,64}$/;
/** A namespace is a DNS-1123 label: nothing else (no `/`, `..`, `,`, selectors) reaches a lookup. */
export const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A resourceVersion is opaque to clients but an integer on etcd; any other string is refused. */
export const RESOURCE_VERSION = /^\d{1,30}$/;

export type Refused = { code: string; message: string; id?: string };
export type Parsed = { frame: WatchClientFrame } | { refused: Refused };

const FIELDS: Record<string, readonly string[]> = {
  subscribe: ["type", "id", "channel", "namespace", "resourceVersion"],
  unsubscribe: ["type", "id"],
  ping: ["type"],
};

const bad = (message: string, id?: string): Parsed => ({
  refused: { code: "bad_frame", message, ...(id ? { id } : {}) },
});

/** Parses and checks one client frame. */
export function parseWatchFrame(data: Buffer | string, isBinary: boolean): Parsed {
  if (isBinary) return bad("binary frames are not part of the protocol: send JSON text frames");
  const size = typeof data === "string" ? Buffer.byteLength(data) : data.length;
  if (size > MAX_WATCH_FRAME)
    return bad(`a frame may be at most ${MAX_WATCH_FRAME} bytes; this one is ${size}`);
  let v: unknown;
  try {
    v = JSON.parse(String(data));
  } catch {
    return bad("the frame is not JSON: send one JSON object per text frame");
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) return bad("the frame must be a JSON object");
  const o = v as Record<string, unknown>;
  const fields = typeof o.type === "string" ? FIELDS[o.type] : undefined;
  if (!fields) return bad("type must be subscribe, unsubscribe or ping");
  const unknown = Object.keys(o).find((k) => !fields.includes(k));
  if (unknown) return bad(`unknown field ${JSON.stringify(unknown.slice(0, 64))} in a ${o.type} frame`);
  if (o.type === "ping") return { frame: { type: "ping" } };
  if (typeof o.id !== "string" || !SUBSCRIPTION_ID.test(o.id))
    return bad("id must be 1-64 characters of A-Z a-z 0-9 _ . -");
  const id = o.id;
  if (o.type === "unsubscribe") return { frame: { type: "unsubscribe", id } };
  if (typeof o.channel !== "string" || !CHANNELS.includes(o.channel as Channel))
    return {
      refused: { code: "unknown_channel", id, message: `channel must be one of ${CHANNELS.join(", ")}` },
    };
  if (o.namespace !== undefined && (typeof o.namespace !== "string" || !NAMESPACE.test(o.namespace)))
    return bad("namespace must be a namespace name (a DNS label), or absent for all you may see", id);
  if (
    o.resourceVersion !== undefined &&
    (typeof o.resourceVersion !== "string" || !RESOURCE_VERSION.test(o.resourceVersion))
  )
    return bad("resourceVersion must be the resourceVersion of a frame you received, or absent", id);
  return {
    frame: {
      type: "subscribe",
      id,
      channel: o.channel as Channel,
      ...(o.namespace !== undefined ? { namespace: o.namespace as string } : {}),
      ...(o.resourceVersion !== undefined ? { resourceVersion: o.resourceVersion as string } : {}),
    },
  };
}

/** A socket's frame allowance: a token bucket small enough to live on every connection. */
export interface Allowance {
  tokens: number;
  last: number;
}

export const FRAME_BURST = 60;
export const FRAMES_PER_SECOND = 20;
/** Refused frames a socket may send before it is closed (1008). */
export const MAX_REFUSED_FRAMES = 20;

/** Takes one frame's token; false when the client floods (it is then closed). */
export function takeFrame(a: Allowance, now: number): boolean {
  a.tokens = Math.min(FRAME_BURST, a.tokens + ((now - a.last) / 1000) * FRAMES_PER_SECOND);
  a.last = now;
  if (a.tokens < 1) return false;
  a.tokens -= 1;
  return true;
}
