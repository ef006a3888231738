/**
 * WebSocket forwarding. Both sides are terminated here (the `ws` package) and messages relayed, so
 * the proxy can ping each side (idle IDE sockets survive intermediaries' idle timeouts, and a dead
 * peer is noticed), pass close codes through, and close a client with 1014 (bad gateway) when its
 * IDE goes away. The upstream handshake runs first: the client's handshake completes only once the
 * IDE accepted, with the subprotocol the IDE chose; an IDE refusal (Jupyter's 403 for a mismatched
 * Origin, say) reaches the client as the IDE's own HTTP answer.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from "node:http";
import type { LookupFunction } from "node:net";
import type { Duplex } from "node:stream";
import { STATUS_CODES } from "node:http";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import { classifyUpstreamError, rejectSocket } from "./errors.ts";

/** Headers that belong to one hop or to the handshake itself; the upstream client makes its own. */
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

/** Pauses a sender once this much waits to be written to the other side. */
const HIGH_WATER = 1 << 20;

export interface RelayOptions {
  pingIntervalMs: number;
  /** Largest message relayed (either way). */
  maxPayload: number;
  handshakeTimeoutMs: number;
  onOpen?: () => void;
  onClose?: () => void;
  /** An upstream failure (classified by the caller's logger). */
  onUpstreamError?: (err: unknown) => void;
}

interface Side {
  ws: WebSocket;
  alive: boolean;
}
interface Pair {
  client: Side;
  upstream: Side;
}

/** Close codes that may be sent in a close frame (1005/1006/1015 are only ever reported). */
export function sendableCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** Copies the client's handshake headers for the upstream, minus hop-by-hop and handshake headers. */
export function upstreamHeaders(headers: IncomingMessage["headers"]): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_HEADERS.has(k)) out[k] = v;
  return out;
}

/** Relays WebSocket connections; one shared ping timer for all of them. */
export class WsRelay {
  private readonly wss: WebSocketServer;
  private readonly pairs = new Set<Pair>();
  private readonly chosen = new WeakMap<IncomingMessage, string>();
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly o: RelayOptions;

  constructor(o: RelayOptions) {
    this.o = o;
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: o.maxPayload,
      clientTracking: false,
      handleProtocols: (_offered, req) => this.chosen.get(req) ?? false,
    });
    this.timer = setInterval(() => this.pingAll(), o.pingIntervalMs);
    this.timer.unref();
  }

  /** Open relays. */
  get size(): number {
    return this.pairs.size;
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
  ): void {
    const offered = (req.headers["sec-websocket-protocol"] ?? "")
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean);
    const up = new WebSocket(url, offered, {
      ...(lookup ? { lookup } : {}),
      headers,
      perMessageDeflate: false,
      maxPayload: this.o.maxPayload,
      handshakeTimeout: this.o.handshakeTimeoutMs,
      followRedirects: false,
      skipUTF8Validation: true,
    });
    let settled = false;
    const abandon = () => {
      if (settled) return;
      settled = true;
      up.removeAllListeners();
      up.on("error", () => undefined);
      up.terminate();
    };
    // The client leaving during the upstream handshake cancels it.
    socket.once("close", abandon);
    up.once("unexpected-response", (_r, res) => {
      settled = true;
      socket.off("close", abandon);
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
        up.on("error", () => undefined);
        up.terminate();
      });
    });
    up.once("error", (err) => {
      if (settled) return;
      settled = true;
      socket.off("close", abandon);
      this.o.onUpstreamError?.(err);
      const fault = classifyUpstreamError(err, who);
      rejectSocket(socket, fault.status, fault.body);
    });
    up.once("open", () => {
      if (settled) return;
      settled = true;
      socket.off("close", abandon);
      up.removeAllListeners("error");
      if (up.protocol) this.chosen.set(req, up.protocol);
      // Hold what the IDE sends until the client side is open.
      const early: [RawData, boolean][] = [];
      const hold = (data: RawData, isBinary: boolean) => early.push([data, isBinary]);
      up.on("message", hold);
      up.on("error", () => undefined);
      const dropClient = () => socket.destroy();
      up.once("close", dropClient);
      let pairStarted = false;
      this.wss.handleUpgrade(req, socket, head, (client) => {
        pairStarted = true;
        // Nothing of the handshake may stay reachable from a long-lived relay: these closures
        // would keep the request, its headers and `head` alive for as long as the socket is open.
        up.off("message", hold);
        up.off("close", dropClient);
        up.removeAllListeners("error");
        this.pair(client, up);
        for (const [d, b] of early) client.send(d, { binary: b });
      });
      // ws completes the handshake synchronously, or drops a client socket that is already gone;
      // then nobody else would ever close the upstream.
      if (!pairStarted) up.terminate();
    });
  }

  private pair(clientWs: WebSocket, upWs: WebSocket): void {
    const pair: Pair = { client: { ws: clientWs, alive: true }, upstream: { ws: upWs, alive: true } };
    this.pairs.add(pair);
    this.o.onOpen?.();
    const pipe = (from: Side, to: Side) => {
      from.ws.on("pong", () => (from.alive = true));
      from.ws.on("message", (data, isBinary) => {
        from.alive = true;
        if (to.ws.readyState !== WebSocket.OPEN) return;
        to.ws.send(data, { binary: isBinary }, () => {
          if (from.ws.isPaused && to.ws.bufferedAmount < HIGH_WATER) from.ws.resume();
        });
        // Backpressure: stop reading one side while the other cannot keep up.
        if (to.ws.bufferedAmount >= HIGH_WATER) from.ws.pause();
      });
      from.ws.on("error", () => undefined);
      from.ws.on("close", (code) => {
        if (to.ws.readyState === WebSocket.OPEN || to.ws.readyState === WebSocket.CONNECTING) {
          if (sendableCode(code)) to.ws.close(code);
          else if (code === 1005) to.ws.close();
          // 1006: the other side vanished without a close frame. Toward the client that is a bad
          // gateway (1014); toward the IDE, an abrupt end like the client's.
          else if (to === pair.client) to.ws.close(1014, "upstream connection lost");
          else to.ws.terminate();
        }
        if (this.pairs.delete(pair)) this.o.onClose?.();
      });
    };
    pipe(pair.client, pair.upstream);
    pipe(pair.upstream, pair.client);
  }

  private pingAll(): void {
    for (const pair of this.pairs) {
      for (const side of [pair.client, pair.upstream]) {
        if (side.ws.readyState !== WebSocket.OPEN) continue;
        if (!side.alive) {
          side.ws.terminate(); // no pong since the last ping: the peer is gone
          continue;
        }
        side.alive = false;
        side.ws.ping();
      }
    }
  }

  /** Closes every relay (1001 going away) and the ping timer. */
  close(): void {
    clearInterval(this.timer);
    for (const pair of this.pairs) {
      pair.client.ws.close(1001, "proxy shutting down");
      pair.upstream.ws.close(1001, "proxy shutting down");
    }
  }
}
