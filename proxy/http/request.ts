/**
 * Request passes: small functions run in order on every request before it is forwarded. Each takes
 * plain values (headers, method, config) so it is tested without a server; the ones that change the
 * request mutate the header object in place, as the forwarder reads it afterwards.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { ErrorBody } from "./errors.ts";
import type { RouteHeader } from "../routing/table.ts";
import type { ClientAddress } from "./client.ts";
import { fillPrefix } from "../../common/model/workspace/template.ts";

/** A refusal: status, body and extra headers. */
export interface Refusal {
  status: number;
  body: ErrorBody;
  headers?: Record<string, string>;
}

/** Method allow-list: anything not in it (TRACE and CONNECT always) gets 405 with `Allow`. */
export function checkMethod(method: string | undefined, allowed: readonly string[]): Refusal | undefined {
  if (method && allowed.includes(method)) return undefined;
  return {
    status: 405,
    body: {
      error: "method_not_allowed",
      message: `method ${method ?? "(none)"} is not allowed through Portico`,
    },
    headers: { allow: allowed.join(", ") },
  };
}

/** A declared body larger than the limit gets 413 before anything is read. `max` 0: no limit. */
export function checkDeclaredBody(headers: IncomingHttpHeaders, max: number): Refusal | undefined {
  const len = headers["content-length"];
  if (!max || len === undefined) return undefined;
  if (Number(len) > max) return bodyTooLarge(max);
  return undefined;
}

export const bodyTooLarge = (max: number): Refusal => ({
  status: 413,
  body: { error: "body_too_large", message: `request bodies are limited to ${max} bytes` },
});

/** The header a gateway proves itself with in trusted-headers mode, unless configured otherwise. */
export const GATEWAY_SECRET_HEADER = "x-portico-gateway-secret";

/**
 * Removes the gateway's own credentials: `Authorization`, `Proxy-Authorization`, the identity headers
 * of trusted-headers mode (whoever sent them, an IDE that believed them could be fooled), the
 * gateway's shared-secret header (its default name; a configured one the gate removes as it reads it)
 * and the gateway's session cookie (other cookies, the IDE's own, stay).
 */
export function stripCredentials(headers: IncomingHttpHeaders, sessionCookie: string): void {
  delete headers.authorization;
  delete headers["proxy-authorization"];
  delete headers["x-forwarded-user"];
  delete headers["x-forwarded-email"];
  delete headers["x-forwarded-groups"];
  delete headers[GATEWAY_SECRET_HEADER];
  const cookie = headers.cookie;
  if (cookie === undefined) return;
  const kept = cookie
    .split(";")
    .map((c) => c.trim())
    .filter((c) => c && c.split("=", 1)[0]!.trim() !== sessionCookie);
  if (kept.length) headers.cookie = kept.join("; ");
  else delete headers.cookie;
}

/** What the forwarded headers are made of. */
export interface ForwardedInfo {
  /** The client as the trusted hops tell (client.ts): its X-Forwarded-For is sent as is. */
  client: ClientAddress;
  /** `http` or `https`, as the client reached us. */
  proto: string;
  /** The Host header as the client sent it, port included. */
  host: string;
  /** The public prefix in front of the IDE ("" in host mode). */
  prefix: string;
  /** Behind trusted hops (`--trusted-proxy-hops` > 0): keep their X-Forwarded-Proto/Host. */
  trust: boolean;
}

/**
 * X-Forwarded-For/Proto/Host/Prefix. X-Forwarded-For is the client's address and the trusted hops
 * after it, never what the client wrote itself; `Forwarded` (RFC 7239), which the proxy does not
 * speak, is dropped. Host itself is left exactly as the client sent it: IDEs compare a WebSocket's
 * Origin with it, port included.
 */
export function forwardedHeaders(headers: IncomingHttpHeaders, f: ForwardedInfo): void {
  const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  headers["x-forwarded-for"] = f.client.forwardedFor;
  headers["x-forwarded-proto"] = (f.trust && first(headers["x-forwarded-proto"])) || f.proto;
  headers["x-forwarded-host"] = (f.trust && first(headers["x-forwarded-host"])) || f.host;
  if (f.prefix) headers["x-forwarded-prefix"] = f.prefix;
  else delete headers["x-forwarded-prefix"];
  delete headers.forwarded;
}

/** The class's request headers, `{prefix}` filled with the public prefix; they replace the client's. */
export function routeHeaders(
  headers: IncomingHttpHeaders,
  list: readonly RouteHeader[],
  prefix: string,
): void {
  for (const h of list) headers[h.name.toLowerCase()] = fillPrefix(h.value, prefix);
}

/** A browser navigation (wants HTML) rather than an API or asset request. */
export function wantsHtml(headers: IncomingHttpHeaders): boolean {
  return /\btext\/html\b/.test(headers.accept ?? "");
}

/**
 * Checks a WebSocket handshake before anything is dialled: GET, `Upgrade: websocket`, a 16-byte
 * base64 key and version 13 (426 with the supported version otherwise).
 */
export function checkHandshake(
  method: string | undefined,
  headers: IncomingHttpHeaders,
): Refusal | undefined {
  const bad = (message: string): Refusal => ({ status: 400, body: { error: "bad_handshake", message } });
  if (method !== "GET")
    return { ...bad("WebSocket handshakes use GET"), status: 405, headers: { allow: "GET" } };
  if ((headers.upgrade ?? "").toLowerCase() !== "websocket")
    return bad("only WebSocket upgrades are proxied");
  const key = headers["sec-websocket-key"];
  if (!key || !/^[+/0-9A-Za-z]{21}[AQgw]==$/.test(key.trim()))
    return bad("missing or invalid Sec-WebSocket-Key");
  if (headers["sec-websocket-version"] !== "13")
    return {
      status: 426,
      body: { error: "bad_handshake", message: "only WebSocket version 13 is supported" },
      headers: { "sec-websocket-version": "13" },
    };
  return undefined;
}
