/**
 * The REST API over the service contract (./types.ts `WorkspaceApi`): an express app whose routes
 * are the OpenAPI document's (./openapi.ts), each request checked against the document's schemas
 * (./validate.ts) before the service sees it.
 *
 *   route (document) → label for the metrics → Content-Type → body (limit, JSON) → path, query and
 *   body schemas → handler (service call) → answer (ETag, Location) | error → {error, message, field}
 *
 * The caller is `res.locals.who`, set by the API surface (proxy/surfaces/api.ts) from the verified
 * identity; nothing in a request names its owner. Handlers are small functions from a `Call` to an
 * `Answer`, so the HTTP side (status, headers, errors) is written once.
 */
import express, { type NextFunction, type Request, type RequestHandler, type Response } from "express";
import type { Logger } from "../../common/runtime/types.ts";
import type { Identity } from "../auth/identity.ts";
import { API_PREFIX, OPENAPI, routes, type Route, type Schema } from "./openapi.ts";
import {
  ApiError,
  type ApiConfig,
  type CreateRequest,
  type UpdateRequest,
  type WorkspaceApi,
  type WorkspaceView,
} from "./types.ts";
import { compileValidators, type OperationValidator } from "./validate.ts";

/** What the API surface hands a request in `res.locals`. */
export interface ApiLocals {
  who: Identity;
  /** Called once the route is known, with a bounded label (`api:POST /api/v1/workspaces`) for the metrics. */
  onRoute?: (label: string) => void;
}

export interface RestDeps {
  api: WorkspaceApi;
  config: Pick<ApiConfig, "maxBodyBytes">;
  log: Logger;
}

/** A handler's input: the caller, the checked parameters and body. */
export interface Call {
  api: WorkspaceApi;
  who: Identity;
  path: Record<string, string>;
  query: Record<string, unknown>;
  body: unknown;
  /** The `If-Match` header, parsed. */
  precondition: Precondition;
}

/** A handler's output. `json` and `text` are exclusive; neither: no body (204). */
export interface Answer {
  status: number;
  json?: unknown;
  text?: string;
  headers?: Record<string, string>;
}

type Handler = (c: Call) => Answer | Promise<Answer>;

// -- ETag and If-Match ----------------------------------------------------------------------------------

/** A workspace's ETag: its resourceVersion, quoted (a strong validator). */
export const etagOf = (ws: Pick<WorkspaceView, "resourceVersion">): string => `"${ws.resourceVersion}"`;

/** Where a workspace lives in the API (the `Location` of create and of the 202s). */
export const locationOf = (ws: Pick<WorkspaceView, "namespace" | "name">): string =>
  `${API_PREFIX}/workspaces/${encodeURIComponent(ws.namespace)}/${encodeURIComponent(ws.name)}`;

/** `If-Match` (RFC 9110 13.1.1): none, `*`, or entity tags (weak ones never match a strong comparison). */
export type Precondition = { kind: "none" } | { kind: "any" } | { kind: "tags"; tags: string[] };

export function parseIfMatch(header: string | undefined): Precondition {
  if (header === undefined || header.trim() === "") return { kind: "none" };
  const items = header
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  if (items.includes("*")) return { kind: "any" };
  // A quoted tag's value; an unquoted one is taken as written (lenient), a weak one kept as `W/…`.
  return { kind: "tags", tags: items.map((t) => (/^"[^"]*"$/.test(t) ? t.slice(1, -1) : t)) };
}

/**
 * The resourceVersion to hand the service as `ifMatch`: the one tag asked for, or, for a list of tags,
 * the current version when the list holds it (else 412 now). `*` and no header: none (the service's
 * 404 covers "must exist").
 */
export function ifMatchFor(c: Call): string | undefined {
  const p = c.precondition;
  if (p.kind !== "tags") return undefined;
  if (p.tags.length === 1 && !p.tags[0]!.startsWith("W/")) return p.tags[0];
  const current = c.api.get(c.who, c.path.ns!, c.path.name!).resourceVersion;
  if (p.tags.includes(current)) return current;
  throw new ApiError(
    412,
    "precondition_failed",
    `workspace ${c.path.ns}/${c.path.name} is at resourceVersion ${current}, not one If-Match names: GET it again`,
  );
}

// -- the seed-compatible paths' choice --------------------------------------------------------------------

const newestFirst = (a: WorkspaceView, b: WorkspaceView) =>
  b.createdAt.localeCompare(a.createdAt) ||
  a.namespace.localeCompare(b.namespace) ||
  a.name.localeCompare(b.name);

/** The caller's active IDE: of the workspaces they own that run (spec), the most recently created. */
export function activeIde(views: readonly WorkspaceView[], user: string): WorkspaceView | undefined {
  return views.filter((w) => w.owner === user && w.running).sort(newestFirst)[0];
}

/** The caller's IDE of class `ide`: the running one, else the newest. */
export function ideOfClass(
  views: readonly WorkspaceView[],
  user: string,
  ide: string,
): WorkspaceView | undefined {
  const mine = views.filter((w) => w.owner === user && w.className === ide).sort(newestFirst);
  return mine.find((w) => w.running) ?? mine[0];
}

const noActiveIde = (who: Identity) =>
  new ApiError(
    404,
    "not_found",
    `${who.user} has no running IDE; POST /api/v1/analysis {"ide": "<class>"} creates one`,
  );

// -- handlers ---------------------------------------------------------------------------------------------

const one = (ws: WorkspaceView, status = 200, location = false): Answer => ({
  status,
  json: ws,
  headers: { etag: etagOf(ws), ...(location ? { location: locationOf(ws) } : {}) },
});
const accepted = (ws: WorkspaceView, json: unknown = ws): Answer => ({
  status: 202,
  json,
  headers: { etag: etagOf(ws), location: locationOf(ws) },
});
const at = (c: Call) => [c.who, c.path.ns!, c.path.name!] as const;

/** Every REST operation of the document, by operationId. */
export const HANDLERS: Readonly<Record<string, Handler>> = {
  listWorkspaces: (c) => ({
    status: 200,
    json: { items: c.api.list(c.who, c.query.all ? { all: true } : {}) },
  }),
  createWorkspace: async (c) => one(await c.api.create(c.who, c.body as CreateRequest), 201, true),
  getWorkspace: (c) => one(c.api.get(...at(c))),
  updateWorkspace: async (c) => one(await c.api.update(...at(c), c.body as UpdateRequest, ifMatchFor(c))),
  deleteWorkspace: async (c) => {
    const ifMatch = ifMatchFor(c);
    await c.api.delete(...at(c), {
      deleteVolume: c.query.deleteVolume === true,
      ...(ifMatch ? { ifMatch } : {}),
    });
    return { status: 204 };
  },
  startWorkspace: async (c) => accepted(await c.api.start(...at(c))),
  stopWorkspace: async (c) => accepted(await c.api.stop(...at(c))),
  syncWorkspace: async (c) => {
    const r = await c.api.sync(...at(c));
    return accepted(r.workspace, r);
  },
  keepAliveWorkspace: async (c) =>
    one(await c.api.keepAlive(...at(c), (c.body as { duration: string }).duration)),
  workspaceLogs: async (c) => ({ status: 200, text: await c.api.logs(...at(c), c.query.lines as number) }),
  listClasses: (c) => ({ status: 200, json: { items: c.api.classes(c.who) } }),
  provision: async (c) => {
    const { repoOwner, repoName } = c.body as { repoOwner: string; repoName: string };
    const r = await c.api.provision(c.who, repoOwner, repoName);
    const headers = { etag: etagOf(r.workspace), location: locationOf(r.workspace) };
    return { status: r.isNew ? 201 : 200, json: r, headers };
  },
  stats: (c) => ({ status: 200, json: c.api.stats(c.who) }),
  openapi: () => ({ status: 200, json: OPENAPI }),
  getAnalysis: (c) => {
    const ws = activeIde(c.api.list(c.who), c.who.user);
    if (!ws) throw noActiveIde(c.who);
    return one(ws);
  },
  createAnalysis: async (c) => {
    const { ide } = c.body as { ide: string };
    // The seed's field is `ide`: an unknown class is refused naming it, not the service's className.
    if (!c.api.classes(c.who).some((k) => k.name === ide))
      throw new ApiError(
        400,
        "invalid",
        `ide: no IDE ${JSON.stringify(ide)}; GET /api/v1/analysis/options lists them`,
        "ide",
      );
    const mine = ideOfClass(c.api.list(c.who), c.who.user, ide);
    if (!mine) return one(await c.api.create(c.who, { className: ide }), 201, true);
    return one(mine.running ? mine : await c.api.start(c.who, mine.namespace, mine.name), 200, true);
  },
  deleteAnalysis: async (c) => {
    const ws = activeIde(c.api.list(c.who), c.who.user);
    if (!ws) throw noActiveIde(c.who);
    await c.api.delete(c.who, ws.namespace, ws.name, { deleteVolume: c.query.deleteVolume === true });
    return { status: 204 };
  },
  analysisOptions: (c) => ({ status: 200, json: { items: c.api.classes(c.who) } }),
};

// -- HTTP -------------------------------------------------------------------------------------------------

/** Headers of every API answer: per-user data, never cached by anyone in between; never sniffed. */
const API_HEADERS = { "cache-control": "no-store", "x-content-type-options": "nosniff" };

/** Writes an answer unless the response already started (then it is cut: half an answer is no answer). */
export function send(res: Response, a: Answer): void {
  if (res.writableEnded || res.destroyed) return;
  if (res.headersSent) return void res.destroy();
  res
    .status(a.status)
    .set(API_HEADERS)
    .set(a.headers ?? {});
  if (a.text !== undefined) res.type("text/plain; charset=utf-8").send(a.text);
  else if (a.json !== undefined) res.json(a.json);
  else res.end();
}

/** The JSON answer of an ApiError: `{error, message, field?, ...details}` with its status. */
export function errorAnswer(e: ApiError): Answer {
  const { error: _e, message: _m, field: _f, ...details } = e.details ?? {};
  void [_e, _m, _f];
  return {
    status: e.status,
    json: {
      error: e.code,
      message: e.message,
      ...(e.field !== undefined ? { field: e.field } : {}),
      ...details,
    },
  };
}

/** body-parser's refusals (`err.type`) as API errors; undefined for anything else. */
export function bodyError(err: unknown, maxBodyBytes: number): ApiError | undefined {
  const type = (err as { type?: unknown } | null)?.type;
  switch (type) {
    case "entity.too.large":
      return new ApiError(
        413,
        "payload_too_large",
        `API request bodies are limited to ${maxBodyBytes} bytes`,
      );
    case "entity.parse.failed":
      return new ApiError(400, "bad_request", "the request body is not valid JSON; send a JSON object");
    case "encoding.unsupported":
      return new ApiError(415, "unsupported_media_type", "send the body uncompressed (no Content-Encoding)");
    case "charset.unsupported":
      return new ApiError(415, "unsupported_media_type", "send the body as UTF-8 JSON");
    case "request.aborted":
    case "request.size.invalid":
      return new ApiError(400, "bad_request", "the request body ended before its declared length");
    default:
      return undefined;
  }
}

/** The request carries a body (RFC 9112 6.3): a Transfer-Encoding, or a Content-Length above 0. */
const hasBody = (req: Request) =>
  req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;

/** 415 unless the body's media type is one the operation takes; no body: an empty object to check. */
function contentType(types: readonly string[]): RequestHandler {
  return (req, _res, next) => {
    if (!hasBody(req)) {
      req.body = {};
      return next();
    }
    const media = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    if (types.includes(media)) return next();
    const said = media ? `Content-Type ${media}` : "no Content-Type";
    next(new ApiError(415, "unsupported_media_type", `send the body as ${types.join(" or ")} (got ${said})`));
  };
}

/**
 * A JSON body of one of `types`, read into `req.body`: 415 for another media type, 413 past
 * `maxBodyBytes` (declared or streamed), 400 when it is not JSON (the error handler answers them).
 */
function jsonBody(types: readonly string[], maxBodyBytes: number): RequestHandler[] {
  return [
    contentType(types),
    // Any media type: contentType() decided; compressed bodies refused (no inflate bombs).
    // Not strict: any JSON value parses, and one that is not an object is the schema's to refuse
    // (400 invalid, "must be a JSON object"); only text that is not JSON is a bad_request.
    express.json({ limit: maxBodyBytes, type: () => true, inflate: false, strict: false }),
  ];
}

/** `?a=1&b=2` as an object; a name given twice becomes an array (which every schema refuses). */
export function queryOf(url: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const i = url.indexOf("?");
  if (i < 0) return out;
  for (const [k, v] of new URLSearchParams(url.slice(i + 1))) {
    const had = out[k];
    out[k] = had === undefined ? v : [...(Array.isArray(had) ? had : [had]), v];
  }
  return out;
}

/** `{ns}` → `:ns`: the document's path template as an express path. */
export const expressPath = (template: string): string => template.replace(/\{([^}]+)\}/g, ":$1");

const locals = (res: Response) => res.locals as ApiLocals;

/** The express middleware chain of one operation. */
function operation(route: Route, v: OperationValidator, handler: Handler, deps: RestDeps): RequestHandler[] {
  const label = `api:${route.method} ${route.path}`;
  const chain: RequestHandler[] = [
    (_req, res, next) => {
      locals(res).onRoute?.(label);
      next();
    },
  ];
  const content = route.op.requestBody?.content;
  if (content) chain.push(...jsonBody(Object.keys(content), deps.config.maxBodyBytes));
  chain.push(async (req, res, next) => {
    try {
      const path = { ...(req.params as Record<string, string>) };
      const query = v.query(queryOf(req.originalUrl));
      const bad = v.path(path) ?? (query instanceof ApiError ? query : undefined) ?? v.body?.(req.body);
      if (bad) throw bad;
      const who = locals(res).who;
      const call: Call = {
        api: deps.api,
        who,
        path,
        query: query as Record<string, unknown>,
        body: req.body,
        precondition: parseIfMatch(req.headers["if-match"]),
      };
      send(res, await handler(call));
    } catch (err) {
      next(err);
    }
  });
  return chain;
}

/** The last middleware: every error as its JSON answer; unexpected ones logged (no request data) as 500. */
export function errorHandler(deps: Pick<RestDeps, "log" | "config">) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const known = err instanceof ApiError ? err : bodyError(err, deps.config.maxBodyBytes);
    if (known) return send(res, errorAnswer(known));
    deps.log.error("API request failed", {
      method: req.method,
      path: req.path,
      err: err instanceof Error ? (err.stack ?? err.message) : String(err),
    });
    send(res, { status: 500, json: { error: "internal", message: "internal error" } });
  };
}

/** 405 with `Allow` for a known path asked with a method it does not have (OPTIONS: 204 with Allow). */
export function methodNotAllowed(template: string, methods: readonly string[]): RequestHandler {
  const allow = [...methods, ...(methods.includes("GET") ? ["HEAD"] : []), "OPTIONS"].join(", ");
  return (req, res) => {
    locals(res).onRoute?.(`api:${req.method} ${template}`);
    if (req.method === "OPTIONS") return send(res, { status: 204, headers: { allow } });
    send(res, {
      status: 405,
      headers: { allow },
      json: {
        error: "method_not_allowed",
        message: `${template} takes ${methods.join(", ")}, not ${req.method}`,
      },
    });
  };
}

/** 404 JSON for anything under the API no route has. */
export const notFound: RequestHandler = (req, res) => {
  locals(res).onRoute?.("api:unknown");
  send(res, {
    status: 404,
    json: {
      error: "not_found",
      message: `no API route ${req.path}; GET ${API_PREFIX}/openapi.json lists them`,
    },
  });
};

/**
 * The REST routes of `doc` (those no other surface serves), then 405 for their other methods. Unknown
 * paths fall through: the app decides (notFound).
 */
export function createRestRouter(deps: RestDeps, doc: Readonly<Schema> = OPENAPI): express.Router {
  const validators = compileValidators(doc);
  const router = express.Router({ caseSensitive: true, strict: false });
  const byPath = new Map<string, string[]>();
  for (const route of routes(doc)) {
    if (route.op["x-portico-surface"]) continue;
    const handler = HANDLERS[route.op.operationId];
    if (!handler) throw new Error(`no handler for operation ${route.op.operationId}`);
    const v = validators.get(route.op.operationId)!;
    router[route.method.toLowerCase() as "get" | "post" | "patch" | "delete"](
      expressPath(route.path),
      ...operation(route, v, handler, deps),
    );
    byPath.set(route.path, [...(byPath.get(route.path) ?? []), route.method]);
  }
  for (const [path, methods] of byPath) router.all(expressPath(path), methodNotAllowed(path, methods));
  return router;
}

/**
 * The API as one express app: the REST router, `extra` routes (the surface mounts GraphQL there),
 * 404 JSON for the rest, and the error answers. Express's own ETag (of any body) and X-Powered-By are
 * off: ETags here are resourceVersions.
 */
export function createApiApp(deps: RestDeps, extra?: (app: express.Express) => void): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.use(createRestRouter(deps));
  extra?.(app);
  app.use(notFound);
  app.use(errorHandler(deps));
  return app;
}
