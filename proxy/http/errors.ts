/**
 * Errors where they meet the user: a status code and a JSON body that says what happened and what to
 * do. Expected network faults are classified (and logged without a stack by the caller); a response
 * that already ended is never written again.
 */
import type { ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { STATUS_CODES } from "node:http";

/** The JSON body of every error the proxy itself answers. */
export interface ErrorBody {
  error: string;
  message: string;
}

/** Writes a JSON error unless the response already started; a started one is cut off instead. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: ErrorBody | Record<string, unknown>,
  headers: Record<string, string> = {},
): void {
  if (res.writableEnded || res.destroyed) return;
  if (res.headersSent) {
    // Half a response cannot be turned into an error: end the connection so the client sees it broke.
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(text);
}

/** Answers a raw socket (upgrade, CONNECT, client errors) with a JSON error, then closes it. */
export function rejectSocket(
  socket: Duplex,
  status: number,
  body: ErrorBody,
  headers: Record<string, string> = {},
): void {
  if (socket.destroyed) return;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const text = JSON.stringify(body);
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n` +
      `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\n` +
      `connection: close\r\n${extra}\r\n${text}`,
  );
  // Give the answer a moment to leave, then make sure the socket is gone whatever the peer does.
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** How an upstream failure is answered. `expected`: a network fault worth a line, not a stack. */
export interface UpstreamFault {
  status: number;
  body: ErrorBody;
  expected: boolean;
  /** Seconds, for Retry-After. */
  retryAfter?: number;
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ECONNABORTED",
  "UND_ERR_SOCKET",
]);

/** The error code of a network error, or "unknown". */
export const errorCode = (err: unknown): string => {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? code : "unknown";
};

/** Classifies an error from dialling or talking to a workspace. */
export function classifyUpstreamError(err: unknown, workspace: string): UpstreamFault {
  const code = errorCode(err);
  const expected = NETWORK_CODES.has(code);
  switch (code) {
    // A GatewayRoute url backend's name resolved to a refused address (proxy/gateway/guard.ts).
    case "EPORTICO_ADDRESS_REFUSED":
      return {
        status: 403,
        expected: true,
        body: { error: "backend_address_refused", message: `${(err as Error).message}; nothing was sent` },
      };
    case "ECONNREFUSED":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return {
        status: 503,
        expected,
        retryAfter: 2,
        body: {
          error: "upstream_unavailable",
          message: `workspace ${workspace} is not accepting connections (${code}); it may be restarting, retry shortly`,
        },
      };
    case "ETIMEDOUT":
    case "ESOCKETTIMEDOUT":
      return {
        status: 504,
        expected,
        body: { error: "upstream_timeout", message: `workspace ${workspace} did not answer in time` },
      };
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return {
        status: 502,
        expected,
        body: {
          error: "upstream_unresolved",
          message: `the address of workspace ${workspace} does not resolve`,
        },
      };
    default:
      return {
        status: 502,
        expected,
        body: {
          error: "upstream_error",
          message: `the connection to workspace ${workspace} failed (${code}); retry, or check the workspace's logs`,
        },
      };
  }
}
