/**
 * The console app's files (npm run build:console → proxy/console/dist/), served by the console
 * surface on the base domain: GET / and /index.html → index.html (no-cache: it names the hashed
 * files of the current build), `/_console/<file>` → that hashed file (immutable).
 *
 * The bundle is read into memory once, at start: a request is a lookup of its exact name in that
 * table, so no path reaches the file system — no traversal, no directory listing, nothing outside the
 * build. A proxy started without a build answers 503 with what to run.
 *
 * Every answer carries a strict CSP. Its one allowance, a per-response style nonce, is for the
 * <style> elements xterm.js creates (proxy/console/app/main.ts hands the nonce to them).
 */
import { randomBytes } from "node:crypto";
import { lstatSync, readdirSync, readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join } from "node:path";
import { gzipSync } from "node:zlib";
import type { Logger } from "../../common/runtime/log.ts";
import { ASSETS_PREFIX, type HttpEndpoint } from "../surfaces/console.ts";

/** One file of the bundle, as it is sent. */
interface Asset {
  body: Buffer;
  gzip: Buffer | undefined;
  type: string;
}

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
};

/** A file name the bundle may hold: no separator, no leading dot, nothing a path could be built from. */
export const ASSET_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9]+)+$/;

/** Where the index names the nonce (scripts/build-console.ts keeps it from index.html). */
const NONCE_SLOT = "__STYLE_NONCE__";

/** The Content-Security-Policy of every answer; `nonce` allows the app's own <style> elements. */
export function contentSecurityPolicy(nonce?: string): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    `style-src 'self'${nonce ? ` 'nonce-${nonce}'` : ""}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
  ].join("; ");
}

/** Headers every console answer carries. */
export function securityHeaders(nonce?: string): Record<string, string> {
  return {
    "content-security-policy": contentSecurityPolicy(nonce),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
  };
}

/** The bundle in `dir`, or undefined when there is none (no directory, or no index.html). */
export function loadBundle(dir: string): Map<string, Asset> | undefined {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  const files = new Map<string, Asset>();
  for (const name of names) {
    const path = join(dir, name);
    // lstat: a symlink in the build directory is not followed out of it.
    if (!ASSET_NAME.test(name) || !lstatSync(path).isFile()) continue;
    const body = readFileSync(path);
    const type = TYPES[extname(name)] ?? "application/octet-stream";
    const gz =
      type.startsWith("text/") || type === "image/svg+xml" ? gzipSync(body, { level: 9 }) : undefined;
    files.set(name, { body, gzip: gz && gz.length < body.length ? gz : undefined, type });
  }
  return files.has("index.html") ? files : undefined;
}

const MISSING_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Portico console not built</title></head>
<body><h1>The console is not built</h1><p>This proxy has no console bundle. Build it with <code>npm run build:console</code>
(or point <code>--console-dir</code> at a build) and restart the proxy.</p></body></html>
`;

const acceptsGzip = (req: IncomingMessage) => /\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""));

function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  headers: Record<string, string>,
  body: Buffer | string,
): void {
  if (res.writableEnded) return;
  res.writeHead(status, { ...headers, "content-length": String(Buffer.byteLength(body)) });
  res.end(req.method === "HEAD" ? undefined : body);
}

function notFound(req: IncomingMessage, res: ServerResponse, path: string): void {
  const body = JSON.stringify({
    error: "not_found",
    message: `${path} is not a file of the console; the console is at /`,
  });
  send(
    req,
    res,
    404,
    { ...securityHeaders(), "content-type": "application/json", "cache-control": "no-store" },
    body,
  );
}

/**
 * The assets endpoint over the bundle in `dir`, read now. `log` hears once when there is none.
 */
export function consoleAssets(dir: string, log: Pick<Logger, "warn" | "info">): HttpEndpoint {
  const files = loadBundle(dir);
  if (!files)
    log.warn("console: no bundle; / answers 503 until one is built", { dir, fix: "npm run build:console" });
  else log.info("console: serving the bundle", { dir, files: [...files.keys()] });
  const index = files?.get("index.html")?.body.toString("utf8");

  return (req, res, target) => {
    const path = target.path;
    if (!files || index === undefined) {
      const headers = {
        ...securityHeaders(),
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-store",
        "retry-after": "30",
      };
      return send(req, res, 503, headers, MISSING_PAGE);
    }
    if (path === "/" || path === "/index.html") {
      const nonce = randomBytes(16).toString("base64");
      const headers = {
        ...securityHeaders(nonce),
        "content-type": TYPES[".html"]!,
        "cache-control": "no-cache",
      };
      return send(req, res, 200, headers, index.replace(NONCE_SLOT, nonce));
    }
    const name = path.startsWith(ASSETS_PREFIX) ? path.slice(ASSETS_PREFIX.length) : "";
    const asset = name !== "index.html" && ASSET_NAME.test(name) ? files.get(name) : undefined;
    if (!asset) return notFound(req, res, path);
    const gz = asset.gzip && acceptsGzip(req);
    const headers: Record<string, string> = {
      ...securityHeaders(),
      "content-type": asset.type,
      "cache-control": "public, max-age=31536000, immutable",
      vary: "accept-encoding",
      ...(gz ? { "content-encoding": "gzip" } : {}),
    };
    send(req, res, 200, headers, gz ? asset.gzip! : asset.body);
  };
}
