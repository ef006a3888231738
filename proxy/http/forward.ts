/**
 * HTTP forwarding to a workspace over undici's dispatcher: one keep-alive pool per upstream origin,
 * the request body streamed up and the response streamed down with backpressure both ways, nothing
 * buffered. Replaced http-proxy on the hot path, where Node's `http.request` under it was most of the
 * proxy's CPU per request (a loopback run at the switch, commit 6c1cebf: 145 → 42–57 µs per request;
 * not in docs/benchmarks.md, whose proxy section puts Portico at about half the CPU per request of
 * configurable-http-proxy, itself http-proxy-3 on `http.request`). undici also closes idle upstream
 * connections before the IDE's own keep-alive timeout would (from the server's Keep-Alive hint), so
 * a request is never written onto a socket the IDE is closing.
 *
 * One retry, and only where it is safe: a GET, HEAD or OPTIONS without a body whose pooled
 * connection turned out dead (reset or closed by the IDE — a pod that was just killed or restarted)
 * before any byte of an answer came, goes once more on a fresh connection. A request with a body is
 * never sent twice.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { Transform, type Readable } from "node:stream";
import { Agent, type Dispatcher } from "undici";
import { errorCode } from "./errors.ts";

/** Hop-by-hop headers (RFC 9110 §7.6.1) and those undici sets itself; never copied across. */
const HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  // Node's server already answered `100 Continue` to the client; the body simply streams up.
  "expect",
]);

export interface ForwardOptions {
  /** No byte from the IDE for this long (waiting for headers, or between body chunks): 504 / cut. */
  idleTimeoutMs: number;
  /** Largest response header block accepted from an IDE. */
  maxResponseHeaderBytes: number;
  /** How long an idle upstream connection is kept for reuse (undici also honours the IDE's hint). */
  keepAliveTimeoutMs?: number;
}

export interface Upstream {
  /** `http://host:port` */
  origin: string;
  /** Path and query for the IDE. */
  path: string;
  /**
   * Largest body streamed up when the client did not declare its length (chunked); 0: no limit.
   * Past it the upstream request is dropped and `onError` gets a `BodyTooLarge`. A declared length
   * is checked before forwarding, and undici holds the body to it.
   */
  maxBodyBytes: number;
  /** The pool to use instead of the forwarder's own (a GatewayRoute rule's, with its timeouts). */
  dispatcher?: Dispatcher;
  /** Upstream request headers, when the caller built them (default: from `req.headers`). */
  headers?: string[];
}

/** What happens around one forwarded request; called at most once each, `onError` or the others. */
export interface ForwardHooks {
  /** The IDE's status and headers (hop-by-hop removed), to change in place before they are written. */
  onResponseHeaders(status: number, headers: IncomingHttpHeaders): void;
  /** Failed before anything was written to the client (answer it), or after (it was cut off). */
  onError(err: Error, responseStarted: boolean): void;
  /**
   * Whether to drop an answer with this status instead of passing it on (a gateway retrying a 5xx
   * elsewhere): nothing of it reaches the client, and `onError` gets a `DivertedAnswer`.
   */
  divert?(status: number): boolean;
  /** The answer was passed on in full. */
  onDone?(status: number): void;
}

/** Upstream headers: the client's (after the request passes changed them) minus hop-by-hop ones. */
export function upstreamRequestHeaders(headers: IncomingHttpHeaders): string[] {
  const named = connectionTokens(headers.connection);
  const out: string[] = [];
  for (const k in headers) {
    if (HOP.has(k) || (named && named.has(k))) continue;
    const v = headers[k];
    if (v === undefined) continue;
    if (typeof v === "string") out.push(k, v);
    else for (const one of v) out.push(k, one);
  }
  return out;
}

/**
 * Response headers for the client: the IDE's minus hop-by-hop ones (Node frames the body itself),
 * shaped as Node's own (`set-cookie` always a list), so the response passes see one shape.
 */
export function clientResponseHeaders(
  headers: Record<string, string | string[] | undefined>,
): IncomingHttpHeaders {
  const named = connectionTokens(headers.connection);
  const out: IncomingHttpHeaders = {};
  for (const k in headers) if (!HOP.has(k) && !(named && named.has(k))) out[k] = headers[k];
  const cookies = out["set-cookie"] as string | string[] | undefined;
  if (typeof cookies === "string") out["set-cookie"] = [cookies];
  return out;
}

/** Header names a Connection header lists (they are hop-by-hop too), or undefined when there is none. */
function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (!value) return undefined;
  const text = Array.isArray(value) ? value.join(",") : value;
  // The common values name no other header: skip the set for them.
  if (text === "keep-alive" || text === "close") return undefined;
  return new Set(text.split(",").map((t) => t.trim().toLowerCase()));
}

/** Methods that may be sent again (RFC 9110 §9.2.2, minus those that may carry a body we streamed). */
const RETRYABLE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
/** A pooled connection that died under the request: it never reached a live IDE process. */
const DEAD_CONNECTION = new Set(["UND_ERR_SOCKET", "ECONNRESET", "EPIPE"]);

export class Forwarder {
  readonly #agent: Agent;

  constructor(o: ForwardOptions) {
    this.#agent = new Agent({
      headersTimeout: o.idleTimeoutMs,
      bodyTimeout: o.idleTimeoutMs,
      keepAliveTimeout: o.keepAliveTimeoutMs ?? 4_000,
      maxHeaderSize: o.maxResponseHeaderBytes,
      pipelining: 1,
    });
  }

  /**
   * Streams `req` to `to` and the answer back into `res`. A client that goes away (or stops reading
   * mid-body) aborts the upstream request, which releases its socket.
   */
  forward(req: IncomingMessage, res: ServerResponse, to: Upstream, hooks: ForwardHooks): void {
    const declared = req.headers["content-length"] !== undefined;
    const body: Readable | null =
      !declared && req.headers["transfer-encoding"] !== undefined
        ? to.maxBodyBytes > 0
          ? req.pipe(limitTo(to.maxBodyBytes))
          : req
        : declared
          ? req
          : null;
    let controller: Dispatcher.DispatchController | undefined;
    let settled = false;
    let retried = body !== null || !RETRYABLE_METHODS.has(req.method ?? "");
    const onClientGone = () => {
      if (!res.writableFinished || !req.complete) controller?.abort(new ClientGone());
    };
    const onDrain = () => controller?.resume();
    res.once("close", onClientGone);
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        if (res.destroyed) c.abort(new ClientGone());
      },
      onResponseStart(c, status, headers) {
        if (status < 200) return; // 1xx (other than 101) stays between this hop and the IDE
        if (hooks.divert?.(status)) {
          settled = true;
          res.off("close", onClientGone);
          c.abort(new DivertedAnswer(status));
          return hooks.onError(new DivertedAnswer(status), false);
        }
        const out = clientResponseHeaders(headers as Record<string, string | string[] | undefined>);
        hooks.onResponseHeaders(status, out);
        res.writeHead(status, out);
        res.on("drain", onDrain);
      },
      onResponseData(c, chunk) {
        if (!res.write(chunk)) c.pause();
      },
      onResponseEnd() {
        settled = true;
        res.end();
        hooks.onDone?.(res.statusCode);
      },
      onResponseError(_c, err) {
        if (settled) return;
        if (!retried && !res.headersSent && !res.destroyed && DEAD_CONNECTION.has(errorCode(err))) {
          retried = true;
          return send();
        }
        settled = true;
        if (err instanceof ClientGone) return res.destroy();
        res.off("close", onClientGone); // the caller may try again: its next attempt listens anew
        hooks.onError(err, res.headersSent);
      },
    };
    const options: Dispatcher.DispatchOptions & { origin: string } = {
      origin: to.origin,
      path: to.path,
      method: (req.method ?? "GET") as Dispatcher.HttpMethod,
      headers: to.headers ?? upstreamRequestHeaders(req.headers),
      body,
    };
    const dispatcher = to.dispatcher ?? this.#agent;
    const send = () => void dispatcher.dispatch(options, handler);
    send();
  }

  close(): Promise<void> {
    return this.#agent.destroy();
  }
}

/** A pass-through that fails with `BodyTooLarge` past `max` bytes. */
function limitTo(max: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      done(seen > max ? new BodyTooLarge(max) : null, chunk);
    },
  });
}

/** A body without a declared length grew past the limit. */
export class BodyTooLarge extends Error {
  readonly limit: number;
  constructor(limit: number) {
    super(`the request body is larger than ${limit} bytes`);
    this.name = "BodyTooLarge";
    this.limit = limit;
  }
}

/** An answer dropped on the caller's request (`divert`): the status it had. */
export class DivertedAnswer extends Error {
  readonly status: number;
  constructor(status: number) {
    super(`the answer (status ${status}) was dropped to try elsewhere`);
    this.name = "DivertedAnswer";
    this.status = status;
  }
}

/** The client went away: nothing is answered, the upstream request is dropped. */
class ClientGone extends Error {
  constructor() {
    super("the client went away");
    this.name = "ClientGone";
  }
}
