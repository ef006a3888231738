/**
 * A streaming WebSocket frame reader (RFC 6455 §5) for a relay: it never holds a message or a data
 * frame, only the current frame's header (at most 14 bytes) and a whole control frame (at most
 * 125 payload bytes). Data bytes are handed back as slices of the chunks they came in, untouched
 * (a client's masked frames stay masked: the IDE unmasks them), as they arrive; a fragmented
 * message of any length costs nothing but a counter.
 *
 * It enforces what a relay can check without the payload: masking by direction (client frames
 * masked, server frames not), no RSV bits (no extension is ever negotiated), known opcodes, control
 * frames unfragmented and ≤ 125 bytes with a valid close code, continuation frames only inside a
 * message and no new message inside one, and a message-size cap counted at each frame header (1009
 * before a byte of the frame that crosses it is passed on). UTF-8 validity of text is left to the
 * endpoints, which check it themselves. Pure: no sockets, no timers (proxy/http/websocket.ts).
 */
import { randomFillSync } from "node:crypto";

export const OP_CONTINUATION = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

/** Close codes that may be sent in a close frame (1005/1006/1015 are only ever reported). */
export function sendableCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** What one chunk of input turned into, in order. */
export type Piece =
  /** Bytes of data frames (headers and payload) to pass on as they are; `end`: a frame ends with them. */
  | { kind: "data"; bytes: Buffer; end: boolean }
  /**
   * A whole control frame: `raw` to pass on as it is, `payload` unmasked. For a close frame, `code`
   * (1005 when it carries none) and `reason`.
   */
  | { kind: "control"; opcode: number; raw: Buffer; payload: Buffer; code?: number; reason?: string }
  /** The peer broke the protocol (1002) or the size cap (1009); nothing after it is read. */
  | { kind: "violation"; code: 1002 | 1009; reason: string };

export interface FrameReaderOptions {
  /** Frames must be masked (they come from a client) or must not be (from a server). */
  masked: boolean;
  /** Largest message, all its fragments together. */
  maxMessageBytes: number;
  /**
   * Called once per data message longer than `messageOver` bytes (activity: proxy/activity/), at the
   * header of the frame that takes it past that: the first for an unfragmented message, whose length
   * the header gives. Never for control frames.
   */
  onMessage?: () => void;
  messageOver?: number;
}

/** The largest header: 2 bytes, an 8-byte length, a 4-byte mask key. */
const MAX_HEADER = 14;

/** Reads one direction of a WebSocket; `push` each chunk as it arrives. */
export class FrameReader {
  readonly #masked: boolean;
  readonly #max: number;
  /** Header bytes of a frame whose header straddles chunks (allocated on first need). */
  #head: Buffer | undefined;
  #headLen = 0;
  /** Payload bytes still to come of the current data frame (-1: between frames). */
  #remaining = -1;
  /** A control frame being collected (header and payload), with its header's facts. */
  #control: { buf: Buffer; filled: number; opcode: number; headerLen: number; mask: boolean } | undefined;
  #inMessage = false;
  #messageBytes = 0;
  readonly #onMessage: (() => void) | undefined;
  readonly #over: number;
  /** The current message was reported to `onMessage` already. */
  #counted = false;
  /** After a close frame or a violation nothing more is read. */
  #done = false;

  constructor(o: FrameReaderOptions) {
    this.#masked = o.masked;
    this.#max = o.maxMessageBytes;
    this.#onMessage = o.onMessage;
    this.#over = o.messageOver ?? 0;
  }

  /**
   * Between frames: nothing of a frame has been handed on yet, so a frame the relay makes itself
   * (a ping, a close) may be sent to the other side now.
   */
  get atBoundary(): boolean {
    return this.#remaining < 0;
  }

  /** A close frame or a violation was read: the rest of this direction is ignored. */
  get done(): boolean {
    return this.#done;
  }

  /**
   * Reads `chunk`; returns what it held, in order. Consecutive data frames come back as one slice;
   * with `split`, a slice ends at every frame end (the relay has a frame of its own waiting).
   */
  push(chunk: Buffer, split = false): Piece[] {
    const out: Piece[] = [];
    let i = 0;
    /** Start of a run of data-frame bytes in `chunk` not yet handed out. */
    let run = -1;
    const flushRun = (end: number, frameEnd = true) => {
      if (run >= 0 && end > run) out.push({ kind: "data", bytes: chunk.subarray(run, end), end: frameEnd });
      run = -1;
    };
    while (i < chunk.length && !this.#done) {
      if (this.#remaining > 0) {
        // Payload of a data frame: pass it on as it is.
        const n = Math.min(this.#remaining, chunk.length - i);
        if (run < 0) run = i;
        i += n;
        this.#remaining -= n;
        if (this.#remaining === 0) {
          this.#remaining = -1;
          if (split) flushRun(i);
        }
        continue;
      }
      if (this.#control) {
        const c = this.#control;
        const n = Math.min(c.buf.length - c.filled, chunk.length - i);
        chunk.copy(c.buf, c.filled, i, i + n);
        c.filled += n;
        i += n;
        if (c.filled === c.buf.length) {
          this.#control = undefined;
          const piece = this.#controlPiece(c.buf, c.opcode, c.headerLen, c.mask);
          out.push(piece);
          if (piece.kind === "violation" || piece.opcode === OP_CLOSE) this.#done = true;
        }
        continue;
      }
      // A header: a slice of this chunk when it is all here, else collected across chunks.
      const start = i;
      let header: Buffer;
      let fromChunk = false;
      const need = this.#headLen === 0 ? headerLength(chunk, i) : undefined;
      if (need !== undefined && chunk.length - i >= need) {
        header = chunk.subarray(i, i + need);
        fromChunk = true;
        i += need;
      } else {
        flushRun(i);
        const head = (this.#head ??= Buffer.allocUnsafe(MAX_HEADER));
        let full = headerLength(head.subarray(0, this.#headLen), 0);
        while (i < chunk.length && (full === undefined || this.#headLen < full)) {
          head[this.#headLen++] = chunk[i++]!;
          full = headerLength(head.subarray(0, this.#headLen), 0);
        }
        if (full === undefined || this.#headLen < full) continue;
        header = Buffer.from(head.subarray(0, full));
        this.#headLen = 0;
      }
      const verdict = this.#frame(header);
      if (verdict.kind === "violation") {
        flushRun(start);
        out.push(verdict);
        this.#done = true;
        break;
      }
      if (verdict.kind === "control") {
        flushRun(start);
        const buf = Buffer.allocUnsafe(header.length + verdict.length);
        header.copy(buf, 0);
        this.#control = {
          buf,
          filled: header.length,
          opcode: verdict.opcode,
          headerLen: header.length,
          mask: verdict.mask,
        };
        if (verdict.length === 0) {
          this.#control = undefined;
          const piece = this.#controlPiece(buf, verdict.opcode, header.length, verdict.mask);
          out.push(piece);
          if (piece.kind === "violation" || piece.opcode === OP_CLOSE) this.#done = true;
        }
        continue;
      }
      // A data frame: its header joins the run (or starts one, when it came in pieces).
      this.#remaining = verdict.length > 0 ? verdict.length : -1;
      if (fromChunk) {
        if (run < 0) run = start;
        if (split && verdict.length === 0) flushRun(i);
      } else {
        flushRun(start);
        out.push({ kind: "data", bytes: header, end: verdict.length === 0 });
      }
    }
    flushRun(i, this.#remaining < 0);
    return out;
  }

  /** Checks a whole header; for data frames, counts the message. */
  #frame(
    h: Buffer,
  ):
    | { kind: "violation"; code: 1002 | 1009; reason: string }
    | { kind: "control"; opcode: number; length: number; mask: boolean }
    | { kind: "data"; length: number } {
    const bad = (reason: string) => ({ kind: "violation" as const, code: 1002 as const, reason });
    const fin = (h[0]! & 0x80) !== 0;
    const rsv = h[0]! & 0x70;
    const opcode = h[0]! & 0x0f;
    const mask = (h[1]! & 0x80) !== 0;
    const len7 = h[1]! & 0x7f;
    let length: number;
    if (len7 === 126) length = h.readUInt16BE(2);
    else if (len7 === 127) {
      const hi = h.readUInt32BE(2);
      if (hi & 0x80000000) return bad("frame length has its most significant bit set");
      length = hi * 2 ** 32 + h.readUInt32BE(6);
    } else length = len7;
    if (rsv) return bad("RSV bits set without a negotiated extension");
    if (mask !== this.#masked)
      return bad(this.#masked ? "client frames must be masked" : "server frames must not be masked");
    if (opcode >= 0x8) {
      if (opcode > OP_PONG) return bad(`unknown opcode ${opcode}`);
      if (!fin) return bad("control frames must not be fragmented");
      if (length > 125) return bad("control frames carry at most 125 bytes");
      return { kind: "control", opcode, length, mask };
    }
    if (opcode > OP_BINARY) return bad(`unknown opcode ${opcode}`);
    if (opcode === OP_CONTINUATION) {
      if (!this.#inMessage) return bad("continuation frame outside a message");
    } else {
      if (this.#inMessage) return bad("new message before the last one ended");
      this.#inMessage = true;
      this.#messageBytes = 0;
      this.#counted = false;
    }
    if (length > this.#max - this.#messageBytes)
      return { kind: "violation", code: 1009, reason: `messages are limited to ${this.#max} bytes` };
    this.#messageBytes += length;
    if (this.#onMessage && !this.#counted && this.#messageBytes > this.#over) {
      this.#counted = true;
      this.#onMessage();
    }
    if (fin) this.#inMessage = false;
    return { kind: "data", length };
  }

  #controlPiece(
    raw: Buffer,
    opcode: number,
    headerLen: number,
    masked: boolean,
  ): Exclude<Piece, { kind: "data" }> {
    const payload = Buffer.from(raw.subarray(headerLen));
    if (masked) {
      const key = raw.subarray(headerLen - 4, headerLen);
      for (let j = 0; j < payload.length; j++) payload[j]! ^= key[j & 3]!;
    }
    if (opcode !== OP_CLOSE) return { kind: "control", opcode, raw, payload };
    if (payload.length === 0) return { kind: "control", opcode, raw, payload, code: 1005, reason: "" };
    if (payload.length === 1) return { kind: "violation", code: 1002, reason: "close frame of 1 byte" };
    const code = payload.readUInt16BE(0);
    if (!sendableCode(code)) return { kind: "violation", code: 1002, reason: `invalid close code ${code}` };
    return { kind: "control", opcode, raw, payload, code, reason: payload.subarray(2).toString() };
  }
}

/** The length of the header that starts at `buf[at]`, or undefined while its first 2 bytes are not in. */
export function headerLength(buf: Buffer, at: number): number | undefined {
  if (buf.length - at < 2) return undefined;
  const len7 = buf[at + 1]! & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (buf[at + 1]! & 0x80 ? 4 : 0);
}

/**
 * A frame the relay makes itself: unmasked toward a client, masked (with a fresh random key) toward
 * a server, as RFC 6455 §5.3 requires. Control frames only (payload ≤ 125 bytes).
 */
export function controlFrame(opcode: number, payload: Buffer, masked: boolean, key?: Buffer): Buffer {
  if (payload.length > 125) throw new RangeError("control frames carry at most 125 bytes");
  const out = Buffer.allocUnsafe(2 + (masked ? 4 : 0) + payload.length);
  out[0] = 0x80 | opcode;
  out[1] = (masked ? 0x80 : 0) | payload.length;
  if (!masked) {
    payload.copy(out, 2);
    return out;
  }
  const k = key ?? randomKey();
  k.copy(out, 2, 0, 4);
  for (let j = 0; j < payload.length; j++) out[6 + j] = payload[j]! ^ k[j & 3]!;
  return out;
}

/** A close frame's payload: the code, then the reason cut to fit 125 bytes. */
export function closePayload(code: number, reason = ""): Buffer {
  const text = Buffer.from(reason).subarray(0, 123);
  const out = Buffer.allocUnsafe(2 + text.length);
  out.writeUInt16BE(code, 0);
  text.copy(out, 2);
  return out;
}

/** Mask keys come from a pool of random bytes refilled in blocks, not one system call per frame. */
const pool = Buffer.allocUnsafe(4096);
let poolAt = pool.length;
function randomKey(): Buffer {
  if (poolAt + 4 > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  poolAt += 4;
  return Buffer.from(pool.subarray(poolAt - 4, poolAt));
}
