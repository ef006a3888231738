/**
 * WebSocket forwarding with bounded memory. The proxy does both handshakes itself, upstream first:
 * the client's handshake completes only once the IDE accepted, with the subprotocol the IDE chose;
 * an IDE refusal (Jupyter's 403 for a mismatched Origin, say) reaches the client as the IDE's own
 * HTTP answer. Then the two raw sockets are relayed through a streaming frame reader
 * (proxy/http/frames.ts): frames pass as they arrive, byte for byte (a client's frames stay masked),
 * never whole messages, so a 200 MiB message costs what one read costs. Per direction at most
 * `maxBufferedBytes` wait to be written: past that the sending side is not read until the other
 * side's socket drains (backpressure both ways).
 *
 * The proxy still speaks for itself where it must: it pings both sides (idle IDE sockets survive
 * intermediaries' idle timeouts, and a dead peer is noticed: no byte back for a whole interval after
 * a ping, or nothing of what was queued to it taken), passes close frames through as they are,
 * closes a client with 1014 (bad gateway) when its IDE goes away, and closes with 1002 / 1009 a
 * side that breaks the protocol or the message-size cap (the other side gets the same code). Frames
 * it makes are written only between two frames of the stream they join, and are masked toward the
 * IDE (the proxy is its client).
 */
import { createHash, randomBytes } from "node:crypto";
import { STATUS_CODES, request, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import { connect, isIP, type LookupFunction, type NetConnectOpts } from "node:net";
import { connect as tlsConnect, type ConnectionOptions } from "node:tls";
import type { Duplex } from "node:stream";
import { classifyUpstreamError, rejectSocket } from "./errors.ts";
import {
  OP_CLOSE,
  OP_PING,
  OP_PONG,
  FrameReader,
  closePayload,
  controlFrame,
  sendableCode,
  type Piece,
} from "./frames.ts";

export { sendableCode };

/** Headers that belong to one hop or to the handshake itself; the upstream request makes its own. */
const HOP_HEADERS = new Set([
  "connection",
  "upgrade",
  "keep-alive",
  "transfer-encoding",
  "te",
  "trailer",
  "proxy-connection",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-extensions",
  "sec-websocket-protocol",
  "sec-websocket-accept",
]);

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** The payload of the proxy's own pings: a pong carrying it answers the proxy and goes no further. */
const PING_TOKEN = Buffer.from("portico");
/** How long a side may take to answer a close frame before its socket is destroyed. */
const CLOSE_GRACE_MS = 5000;

export interface RelayOptions {
  pingIntervalMs: number;
  /** Largest message relayed (either way), counted across its fragments: larger ones close with 1009. */
  maxPayload: number;
  handshakeTimeoutMs: number;
  /** Bytes queued toward one side before the other side stops being read (default 1 MiB). */
  maxBufferedBytes?: number;
  onOpen?: () => void;
  /** A relay ended, `seconds` after it opened (its client's side closed). */
  onClose?: (seconds: number) => void;
  /** An upstream failure (classified by the caller's logger). */
  onUpstreamError?: (err: unknown) => void;
}

/**
 * Client-to-IDE data messages longer than `over` bytes call `onMessage` once each (activity reports:
 * proxy/activity/). Counted by the frame reader at a frame header: no per-frame allocation.
 */
export interface MessageActivity {
  over: number;
  onMessage: () => void;
}

/** The value of Sec-WebSocket-Accept for a Sec-WebSocket-Key. */
export const acceptKey = (key: string): string =>
  createHash("sha1")
    .update(key + GUID)
    .digest("base64");

/** Copies the client's handshake headers for the upstream, minus hop-by-hop and handshake headers. */
export function upstreamHeaders(headers: IncomingMessage["headers"]): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_HEADERS.has(k)) out[k] = v;
  return out;
}

/**
 * What is wrong with an IDE's 101 answer, or undefined: the accept key must match, no extension may
 * be switched on (none was offered), and a subprotocol must be one the client offered.
 */
export function checkUpstreamAccept(
  headers: IncomingMessage["headers"],
  key: string,
  offered: readonly string[],
): string | undefined {
  if ((headers.upgrade ?? "").toLowerCase() !== "websocket")
    return "the answer does not upgrade to websocket";
  if (headers["sec-websocket-accept"] !== acceptKey(key)) return "wrong Sec-WebSocket-Accept";
  if (headers["sec-websocket-extensions"]) return "an extension nobody offered was switched on";
  const p = headers["sec-websocket-protocol"];
  if (p !== undefined && !offered.includes(p)) return `subprotocol ${p} was not offered`;
  return undefined;
}

/**
 * Frees a read buffer as soon as its bytes are written on, rather than at the next garbage
 * collection: V8 collects dead buffers only once some 64 MiB of them piled up, so a relay streaming
 * at full speed would hold tens of MiB of garbage (read buffers already passed on, not the
 * message). Only a whole buffer of its own (not a view of a larger one), and only once no write of
 * it can be pending: now, when the socket it went to has nothing queued, else when an empty write
 * queued behind its bytes completes (writes complete in order).
 */
function release(chunk: Buffer, written: Duplex): void {
  if (chunk.length < 16 * 1024 || written.destroyed || written.writableEnded) return;
  const ab = chunk.buffer;
  if (chunk.byteOffset !== 0 || ab.byteLength !== chunk.length || !(ab instanceof ArrayBuffer)) return;
  if (written.writableLength === 0) return detach(ab);
  written.write(EMPTY, (err) => {
    if (!err && !written.destroyed) detach(ab);
  });
}
const EMPTY = Buffer.alloc(0);
/** transfer(0) detaches the buffer: its memory goes back at once, and views of it read as empty. */
const detach = (ab: ArrayBuffer) =>
  void (ab as ArrayBuffer & { transfer(length: number): ArrayBuffer }).transfer(0);

/** One end of a relay: a socket, what it sends, and the state of its close handshake. */
class Side {
  readonly socket: Duplex;
  readonly reader: FrameReader;
  /** Frames the proxy makes toward this side are masked (it is the upstream). */
  readonly masked: boolean;
  other!: Side;
  /** Bytes came from it since the last ping tick. */
  alive = true;
  /** A ping was written to it at the last tick. */
  pinged = false;
  /** Bytes of ours it had taken (bytesWritten less those still queued) at the last tick. */
  taken = 0;
  /** Frames the proxy made for it, waiting for the frame under way toward it to end. */
  outbox: Buffer[] | undefined;
  /** Its socket is to end once the outbox is written (the proxy failed the connection). */
  endAfterOutbox = false;
  closeQueued = false;
  closeWritten = false;
  closeReceived = false;
  paused = false;
  gone = false;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** On the client's side: its relay, counted open until this side is done. */
  pair: Pair | undefined;

  constructor(socket: Duplex, masked: boolean, maxMessageBytes: number, messages?: MessageActivity) {
    this.socket = socket;
    this.masked = masked;
    // A client's frames must be masked, the IDE's must not.
    this.reader = new FrameReader({
      masked: !masked,
      maxMessageBytes,
      ...(messages ? { onMessage: messages.onMessage, messageOver: messages.over } : {}),
    });
  }
}

interface Pair {
  client: Side;
  upstream: Side;
  /** performance.now() when the relay opened. */
  opened: number;
}

/** Relays WebSocket connections; one shared ping timer for all of them. */
export class WsRelay {
  private readonly pairs = new Set<Pair>();
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly o: RelayOptions;
  private readonly cap: number;

  constructor(o: RelayOptions) {
    this.o = o;
    this.cap = o.maxBufferedBytes ?? 1 << 20;
    this.timer = setInterval(() => this.pingAll(), o.pingIntervalMs);
    this.timer.unref();
  }

  /** Open relays. */
  get size(): number {
    return this.pairs.size;
  }

  /** Bytes queued in the relays' sockets, both directions (what backpressure bounds). */
  bufferedBytes(): number {
    let n = 0;
    for (const p of this.pairs) n += p.client.socket.writableLength + p.upstream.socket.writableLength;
    return n;
  }

  /**
   * Dials `url` with the client's headers (Host and Origin as the client sent them), then completes
   * the client's handshake and relays. The client's handshake must have been checked already.
   */
  relay(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    url: string,
    headers: OutgoingHttpHeaders,
    who: string,
    /** How the upstream's name is resolved (GatewayRoute url backends: proxy/gateway/guard.ts). */
    lookup?: LookupFunction,
    /** The client's messages as activity (workspaces only). */
    messages?: MessageActivity,
  ): void {
    const offered = (req.headers["sec-websocket-protocol"] ?? "")
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean);
    const clientKey = String(req.headers["sec-websocket-key"]).trim();
    const key = randomBytes(16).toString("base64");
    const u = new URL(url);
    const tls = u.protocol === "wss:";
    const up = request({
      host: u.hostname.replace(/^\[|\]$/g, ""),
      port: u.port || (tls ? 443 : 80),
      path: u.pathname + u.search,
      method: "GET",
      headers: {
        ...headers,
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": key,
        ...(offered.length ? { "sec-websocket-protocol": offered.join(", ") } : {}),
      },
      // One connection of its own, no agent: it becomes the relay's socket. GatewayRoute url
      // backends resolve through their address guard (`lookup`) and may be wss:.
      createConnection: (o) =>
        tls
          ? tlsConnect({
              ...(o as ConnectionOptions),
              ...(isIP(u.hostname.replace(/^\[|\]$/g, "")) ? {} : { servername: u.hostname }),
              ...(lookup ? { lookup } : {}),
            })
          : connect({ ...(o as NetConnectOpts), ...(lookup ? { lookup } : {}) }),
    });
    let settled = false;
    const settle = () => {
      settled = true;
      clearTimeout(timeout);
      socket.off("close", abandon);
    };
    const fail = (err: Error) => {
      if (settled) return;
      settle();
      up.destroy();
      this.o.onUpstreamError?.(err);
      const fault = classifyUpstreamError(err, who);
      rejectSocket(socket, fault.status, fault.body);
    };
    const timeout = setTimeout(
      () => fail(Object.assign(new Error("the WebSocket handshake timed out"), { code: "ETIMEDOUT" })),
      this.o.handshakeTimeoutMs,
    );
    // The client leaving during the upstream handshake cancels it.
    const abandon = () => {
      if (settled) return;
      settle();
      up.destroy();
    };
    socket.once("close", abandon);
    up.on("error", (err) => fail(err));
    up.once("response", (res) => {
      if (settled) return;
      settle();
      // The IDE said no (403 for a foreign Origin, 404...): the client gets the IDE's answer.
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size <= 64 * 1024) chunks.push(c);
      });
      res.on("error", () => socket.destroy());
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        const code = res.statusCode ?? 502;
        const type = res.headers["content-type"] ?? "text/plain";
        if (!socket.destroyed && socket.writable) {
          socket.write(
            `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ""}\r\ncontent-type: ${type}\r\n` +
              `content-length: ${body.length}\r\nconnection: close\r\n\r\n`,
          );
          socket.end(body);
        }
        up.destroy();
      });
    });
    up.once("upgrade", (res, upSocket: Duplex, upHead: Buffer) => {
      if (settled) return void upSocket.destroy();
      const wrong = checkUpstreamAccept(res.headers, key, offered);
      if (wrong) {
        upSocket.destroy();
        return fail(Object.assign(new Error(`bad WebSocket handshake from the upstream: ${wrong}`)));
      }
      settle();
      // The request is spent; its socket is the relay's now (and has its own error listener).
      up.removeAllListeners("error");
      up.on("error", () => undefined);
      upSocket.on("error", () => upSocket.destroy());
      if (socket.destroyed || !socket.writable) return void upSocket.destroy();
      const chosen = res.headers["sec-websocket-protocol"];
      socket.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Accept: ${acceptKey(clientKey)}\r\n` +
          (chosen ? `Sec-WebSocket-Protocol: ${chosen}\r\n` : "") +
          "\r\n",
      );
      this.pair(socket, head, upSocket, upHead, messages);
    });
    up.end();
  }

  private pair(
    clientSocket: Duplex,
    clientHead: Buffer,
    upSocket: Duplex,
    upHead: Buffer,
    messages?: MessageActivity,
  ): void {
    const max = this.o.maxPayload;
    const client = new Side(clientSocket, false, max, messages);
    const upstream = new Side(upSocket, true, max);
    client.other = upstream;
    upstream.other = client;
    const pair: Pair = { client, upstream, opened: performance.now() };
    client.pair = pair;
    this.pairs.add(pair);
    this.o.onOpen?.();
    for (const side of [client, upstream]) {
      const s = side.socket as Duplex & {
        setTimeout?: (ms: number) => void;
        setNoDelay?: (b: boolean) => void;
      };
      s.setTimeout?.(0);
      s.setNoDelay?.(true);
      s.on("data", (chunk: Buffer) => this.read(side, chunk));
      s.on("end", () => this.ended(side));
      s.on("close", () => this.gone(side));
    }
    if (upHead.length) this.read(upstream, upHead);
    if (clientHead.length) this.read(client, clientHead);
  }

  /** A chunk from `from`: its frames go on to the other side as they are. */
  private read(from: Side, chunk: Buffer): void {
    from.alive = true;
    if (from.reader.done) return;
    const to = from.other;
    const pieces = from.reader.push(chunk, to.outbox !== undefined);
    to.socket.cork();
    for (const p of pieces) this.piece(from, to, p);
    if (from.reader.atBoundary) this.flush(to);
    to.socket.uncork();
    release(chunk, to.socket);
    // Backpressure: stop reading one side while the other has more than the cap queued.
    if (!from.paused && !to.gone && to.socket.writableLength > this.cap) {
      from.paused = true;
      from.socket.pause();
      to.socket.once("drain", () => {
        from.paused = false;
        from.socket.resume();
      });
    }
  }

  private piece(from: Side, to: Side, p: Piece): void {
    if (p.kind === "data") {
      this.write(to, p.bytes);
      if (p.end) this.flush(to);
      return;
    }
    if (p.kind === "violation") {
      // The sender broke the protocol: it is told why and cut off; the other side gets the same code.
      this.queueClose(from, p.code, p.reason, true);
      this.queueClose(to, p.code, p.reason);
      return;
    }
    if (p.opcode === OP_CLOSE) {
      from.closeReceived = true;
      if (!to.closeQueued && !to.gone) {
        this.write(to, p.raw);
        to.closeQueued = to.closeWritten = true;
        this.graceTimer(to);
      }
      // A side that both sent and was sent a close frame is done: its socket ends.
      for (const s of [from, to]) if (s.closeReceived && s.closeWritten) this.endSide(s);
      // Nobody left to answer it: the proxy does.
      if (to.gone && !from.closeQueued) this.queueClose(from, p.code === 1005 ? 1000 : p.code!, "", true);
      this.flush(to);
      return;
    }
    if (p.opcode === OP_PONG && p.payload.equals(PING_TOKEN)) return this.flush(to); // the proxy's own
    this.write(to, p.raw);
    this.flush(to);
  }

  private write(to: Side, bytes: Buffer): void {
    if (!to.closeWritten && !to.gone) to.socket.write(bytes);
  }

  /** Writes the proxy's own frames for `to`; call only between two frames toward it. */
  private flush(to: Side): void {
    const box = to.outbox;
    if (!box) return;
    to.outbox = undefined;
    for (const frame of box) {
      if (to.closeWritten || to.gone) break;
      to.socket.write(frame);
      if (frame[0] === (0x80 | OP_CLOSE)) to.closeWritten = true;
    }
    if (to.endAfterOutbox) this.endSide(to);
  }

  /** Queues a frame of the proxy's own for `to`, written now if the stream toward it is between frames. */
  private send(to: Side, opcode: number, payload: Buffer): boolean {
    if (to.gone || to.closeQueued) return false;
    (to.outbox ??= []).push(controlFrame(opcode, payload, to.masked));
    if (!to.other.reader.atBoundary) return false;
    this.flush(to);
    return true;
  }

  private queueClose(to: Side, code: number, reason: string, endAfter = false): void {
    if (to.gone || to.closeQueued) {
      if (endAfter && !to.gone) this.endSide(to);
      return;
    }
    this.send(to, OP_CLOSE, closePayload(code, reason));
    to.closeQueued = true;
    if (endAfter) to.endAfterOutbox = true;
    if (to.closeWritten && endAfter) this.endSide(to);
    this.graceTimer(to);
  }

  /** A side told to close has a few seconds to do so. */
  private graceTimer(side: Side): void {
    side.timer ??= setTimeout(() => side.socket.destroy(), CLOSE_GRACE_MS);
    side.timer.unref?.();
  }

  private endSide(side: Side): void {
    if (side.gone) return;
    side.socket.end();
    this.graceTimer(side);
    this.finished(side);
  }

  /** `side` sent FIN: it says no more. */
  private ended(side: Side): void {
    this.lost(side);
    if (!side.gone) side.socket.end();
  }

  /** `side`'s socket is closed. */
  private gone(side: Side): void {
    side.gone = true;
    clearTimeout(side.timer);
    this.lost(side);
    this.finished(side);
  }

  /**
   * The client's side is over (closed, or ending after its close handshake): the relay no longer
   * counts as open; what is left of the IDE's side ends on its own (grace timers).
   */
  private finished(side: Side): void {
    if (side.pair && this.pairs.delete(side.pair))
      this.o.onClose?.((performance.now() - side.pair.opened) / 1000);
  }

  /**
   * Nothing more will come from `side`. Without a close frame first, the other side is told: a
   * client gets 1014 (its IDE went away), an IDE an abrupt end like its client's.
   */
  private lost(side: Side): void {
    const other = side.other;
    if (side.closeReceived || other.gone) return;
    side.closeReceived = true;
    if (other.closeQueued) return;
    if (other.masked) return void other.socket.destroy();
    // Toward the client only between frames: a frame the IDE left half-sent cannot be ended.
    if (!side.reader.atBoundary) return void other.socket.destroy();
    this.queueClose(other, 1014, "upstream connection lost", true);
  }

  private pingAll(): void {
    for (const pair of this.pairs) {
      for (const side of [pair.client, pair.upstream]) {
        if (side.gone || side.closeQueued) continue;
        // A side the relay stopped reading (backpressure) cannot answer: it is not judged.
        if (side.paused) side.alive = true;
        const s = side.socket as Duplex & { bytesWritten?: number };
        const taken = (s.bytesWritten ?? 0) - s.writableLength;
        const stuck = s.writableLength > 0 && taken === side.taken;
        side.taken = taken;
        // No byte back since a ping, or nothing of what waits for it taken in a whole interval.
        if (!side.alive && (side.pinged || stuck)) {
          s.destroy();
          continue;
        }
        side.alive = false;
        side.pinged = this.send(side, OP_PING, PING_TOKEN);
      }
    }
  }

  /** Closes every relay (1001 going away) and the ping timer. */
  close(): void {
    clearInterval(this.timer);
    for (const pair of this.pairs) {
      this.queueClose(pair.client, 1001, "proxy shutting down");
      this.queueClose(pair.upstream, 1001, "proxy shutting down");
    }
  }
}
