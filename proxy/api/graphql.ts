/**
 * GraphQL at `POST /graphql`: the schema of ./graphql-schema.ts over the service contract
 * (WorkspaceApi), served by graphql-http, the GraphQL-over-HTTP reference implementation (status
 * codes and `application/graphql-response+json` as the spec says).
 *
 * Mount it after authentication, which sets `res.locals.who`:
 *   app.all("/graphql", createGraphqlHandler({ api, config: config.api, log }))
 * (`app.all` so that GET and others get the 405 below; `app.post` works too, other methods then 404.)
 * Mount it WITHOUT a body parser in front: it reads the body itself, bounded by `maxBodyBytes`, so an
 * oversized body (413) or malformed JSON (400) is answered as a GraphQL error with a code. A body an
 * earlier parser (express.json) already set on `req.body` is used as it is, and batches are still
 * refused; that parser's own refusals (malformed JSON, too large) are then its error handler's.
 *
 * It uses graphql-http's server-agnostic handler rather than its express adapter: the adapter reads
 * a body with no size bound and answers 405/415 with no body; here every refusal is a GraphQL error
 * with `extensions.code`.
 *
 * Before graphql-http sees a request: POST only (405: mutations never run over GET, and nothing else
 * does either), an identity, `application/json`, a body within the bound that is one JSON object
 * (an array, a batch of operations, is refused: each operation is one request, counted and limited
 * alone). Then graphql-http: Accept (406), the parameters, parse (at most ten tokens per field the
 * cost allows), depth and cost (./graphql-limits.ts, before any validation rule), validation,
 * operationName (per spec: picks the operation; required when there are several), execution.
 */
import type { IncomingMessage } from "node:http";
import type { Request as ExpressRequest, RequestHandler, Response as ExpressResponse } from "express";
import {
  GraphQLError,
  parse,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type ParseOptions,
  type Source,
} from "graphql";
import { createHandler } from "graphql-http";
import type { Logger } from "../../common/runtime/log.ts";
import type { Quantity } from "../../crds/types.ts";
import type { Identity } from "../auth/identity.ts";
import {
  BAD_REQUEST,
  BAD_USER_INPUT,
  formatError,
  INTERNAL,
  PARSE_FAILED,
  userInputError,
  VALIDATION_FAILED,
  withCode,
} from "./graphql-errors.ts";
import { limitErrors } from "./graphql-limits.ts";
import {
  GRAPHQL_SCHEMA,
  parseInstanceId,
  toInstance,
  toStats,
  type CodeServerInstance,
} from "./graphql-schema.ts";
import type { ApiConfig, WorkspaceApi, WorkspaceView } from "./types.ts";

export { GRAPHQL_SDL, graphqlSchemaText } from "./graphql-schema.ts";

export interface GraphqlDeps {
  api: WorkspaceApi;
  config: Pick<ApiConfig, "graphql" | "git" | "maxBodyBytes">;
  log: Logger;
}

/**
 * What every resolver is handed: the caller, and the class default volume sizes (read once per
 * request). A type, not an interface: graphql-http wants a context assignable to a record.
 */
type Ctx = {
  who: Identity;
  defaultSize(className: string): Quantity | undefined;
};

/** Log lines codeServerLogs may ask for (the service's bound). */
const MAX_LOG_LINES = 5000;

/** The instance an `id` argument names; BAD_USER_INPUT naming the argument when it is malformed. */
function target(id: string): { namespace: string; name: string } {
  const t = parseInstanceId(id);
  if (t) return t;
  const shown = id.length > 80 ? `${id.slice(0, 80)}…` : id;
  throw userInputError(
    `id ${JSON.stringify(shown)} is not an instance id: pass an id as myCodeServers returns it`,
    "id",
  );
}

type Args = Record<string, unknown>;
const idOf = (a: Args) => target(String(a.id));

/** The root value: one function per Query and Mutation field (graphql-js calls them with args, context). */
export function resolvers(api: WorkspaceApi, gitBase: string | undefined) {
  const inst = (c: Ctx, v: WorkspaceView): CodeServerInstance =>
    toInstance(v, gitBase, c.defaultSize(v.className));
  return {
    myCodeServers: (_: Args, c: Ctx) => api.list(c.who).map((v) => inst(c, v)),
    codeServer: (a: Args, c: Ctx) => {
      const t = idOf(a);
      return inst(c, api.get(c.who, t.namespace, t.name));
    },
    codeServerStatus: (a: Args, c: Ctx) => {
      const t = idOf(a);
      return api.get(c.who, t.namespace, t.name).status;
    },
    codeServerLogs: (a: Args, c: Ctx) => {
      const t = idOf(a);
      const lines = a.lines as number;
      if (!Number.isInteger(lines) || lines < 1 || lines > MAX_LOG_LINES)
        throw userInputError(`lines must be between 1 and ${MAX_LOG_LINES}`, "lines");
      return api.logs(c.who, t.namespace, t.name, lines);
    },
    health: () => "ok",
    instanceStats: (_: Args, c: Ctx) => toStats(api.stats(c.who)),
    provisionCodeServer: async (a: Args, c: Ctx) => {
      const r = await api.provision(c.who, String(a.repoOwner), String(a.repoName));
      return { instance: inst(c, r.workspace), message: r.message, isNew: r.isNew };
    },
    stopCodeServer: async (a: Args, c: Ctx) => {
      const t = idOf(a);
      return inst(c, await api.stop(c.who, t.namespace, t.name));
    },
    startCodeServer: async (a: Args, c: Ctx) => {
      const t = idOf(a);
      return inst(c, await api.start(c.who, t.namespace, t.name));
    },
    deleteCodeServer: async (a: Args, c: Ctx) => {
      const t = idOf(a);
      await api.delete(c.who, t.namespace, t.name, { deleteVolume: true }); // the user asked: files go too
      return true;
    },
    syncRepository: async (a: Args, c: Ctx) => {
      const t = idOf(a);
      return inst(c, (await api.sync(c.who, t.namespace, t.name)).workspace);
    },
    // Issue 15: the keep-alive, as REST's POST .../keepalive.
    keepAliveCodeServer: async (a: Args, c: Ctx) => {
      const t = idOf(a);
      return inst(c, await api.keepAlive(c.who, t.namespace, t.name, String(a.duration)));
    },
  };
}

/** The resolvers' context for one request. */
function contextFor(api: WorkspaceApi, who: Identity): Ctx {
  let sizes: Map<string, Quantity | undefined> | undefined;
  return {
    who,
    defaultSize(className) {
      sizes ??= new Map(api.classes(who).map((cl) => [cl.name, cl.defaults.storage]));
      return sizes.get(className);
    },
  };
}

/** A refusal made before graphql-http sees the request. */
export interface HttpRefusal {
  status: number;
  code: string;
  message: string;
  headers?: Record<string, string>;
}

const refusal = (
  status: number,
  code: string,
  message: string,
  headers?: Record<string, string>,
): HttpRefusal => ({
  status,
  code,
  message,
  ...(headers ? { headers } : {}),
});

/** POST only. */
export const checkMethod = (method: string | undefined): HttpRefusal | undefined =>
  method === "POST"
    ? undefined
    : refusal(
        405,
        "METHOD_NOT_ALLOWED",
        `${method ?? "this method"} is not served here: POST a JSON body {query, variables, operationName}`,
        { allow: "POST" },
      );

/** `application/json`, in UTF-8 when a charset is named (what the GraphQL-over-HTTP spec requires servers to accept). */
export function checkContentType(header: string | undefined): HttpRefusal | undefined {
  const [type, ...params] = (header ?? "")
    .toLowerCase()
    .split(";")
    .map((s) => s.trim());
  const charset = params
    .find((p) => p.startsWith("charset="))
    ?.slice("charset=".length)
    .replace(/"/g, "");
  if (type === "application/json" && (charset === undefined || charset === "utf-8")) return undefined;
  return refusal(415, "UNSUPPORTED_MEDIA_TYPE", "send the query as JSON: Content-Type: application/json");
}

/**
 * The body as one JSON object, or why not. `raw`: the bytes read (a Buffer), or what an earlier
 * parser set on req.body: its value as it is (express.json's, even a string), or its bytes
 * (express.raw's Buffer).
 */
export function bodyObject(raw: unknown): { body: Record<string, unknown> } | { refused: HttpRefusal } {
  let value = raw;
  if (Buffer.isBuffer(raw)) {
    try {
      value = JSON.parse(raw.toString("utf8"));
    } catch {
      return {
        refused: refusal(400, BAD_REQUEST, 'the request body is not valid JSON: send {"query": "…"}'),
      };
    }
  }
  if (Array.isArray(value))
    return {
      refused: refusal(
        400,
        BAD_REQUEST,
        "batched operations are not supported: send one operation per request",
      ),
    };
  if (value === null || typeof value !== "object")
    return {
      refused: refusal(
        400,
        BAD_REQUEST,
        'the request body must be a JSON object: {"query": "…", "variables": {…}}',
      ),
    };
  return { body: value as Record<string, unknown> };
}

/** The request's bytes, at most `limit` of them; undefined when there are more. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => req.off("data", onData).off("end", onEnd).off("error", onError).off("close", onClose);
    const done = (v: Buffer | undefined) => {
      stop();
      resolve(v);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) done(undefined);
      else chunks.push(chunk);
    };
    const onEnd = () => done(Buffer.concat(chunks));
    const onError = (err: Error) => {
      stop();
      reject(err);
    };
    // A client that goes away mid-body: no answer to give, but no promise left waiting either.
    const onClose = () => onError(new Error("the client closed the connection before the body ended"));
    req.on("data", onData).on("end", onEnd).on("error", onError).on("close", onClose);
  });
}

/** The JSON body of a refusal: a GraphQL response with one coded error and no data. */
export const errorBody = (code: string, message: string): string =>
  JSON.stringify({ errors: [{ message, extensions: { code } }] });

const JSON_UTF8 = "application/json; charset=utf-8";

function send(res: ExpressResponse, status: number, headers: Record<string, string>, body: string): void {
  if (res.headersSent || res.writableEnded) return; // the client went away, or an earlier write answered
  res.writeHead(status, { "cache-control": "no-store", ...headers }).end(body);
}

/**
 * Answers a refusal. A body left unread (or past the bound) is drained and dropped by Node after the
 * answer, as express.json does: memory stays bounded and the client reliably reads the refusal.
 */
function refuse(res: ExpressResponse, r: HttpRefusal): void {
  send(res, r.status, { "content-type": JSON_UTF8, ...r.headers }, errorBody(r.code, r.message));
}

/** The checks in front of graphql-http (see the header): the body object, or the refusal already sent. */
async function admit(
  req: ExpressRequest,
  res: ExpressResponse,
  limit: number,
): Promise<Record<string, unknown> | undefined> {
  const early =
    checkMethod(req.method) ??
    (res.locals.who ? undefined : refusal(401, "UNAUTHENTICATED", "log in first")) ??
    checkContentType(req.headers["content-type"]);
  if (early) return void refuse(res, early);
  let raw: unknown;
  try {
    raw = req.body !== undefined ? req.body : await readBody(req, limit);
  } catch {
    return; // the client went away mid-body: nobody to answer
  }
  if (raw === undefined)
    return void refuse(
      res,
      refusal(413, "PAYLOAD_TOO_LARGE", `the request body is larger than ${limit} bytes`),
    );
  const parsed = bodyObject(raw);
  if ("refused" in parsed) return void refuse(res, parsed.refused);
  return parsed.body;
}

/** graphql-http's one bodiless answer that can reach a client past `admit`: an Accept it cannot serve. */
const NOT_ACCEPTABLE = refusal(
  406,
  "NOT_ACCEPTABLE",
  "accept application/graphql-response+json or application/json (UTF-8)",
);

/** The express handler serving GraphQL (see the header for how to mount it). */
export function createGraphqlHandler(deps: GraphqlDeps): RequestHandler {
  const { api, config, log } = deps;
  const limits = config.graphql;
  const maxTokens = Math.max(1000, limits.maxCost * 10);
  const handle = createHandler<IncomingMessage, { who: Identity }, Ctx>({
    schema: GRAPHQL_SCHEMA,
    rootValue: resolvers(api, config.git?.base),
    context: (req) => contextFor(api, req.context.who),
    parse: (source: string | Source, options?: ParseOptions): DocumentNode => {
      try {
        return parse(source, { ...options, maxTokens });
      } catch (err) {
        if (err instanceof GraphQLError) throw withCode(err, PARSE_FAILED);
        throw new GraphQLError("the query could not be parsed: it nests too deep", {
          extensions: { code: PARSE_FAILED },
        });
      }
    },
    // The limits first and alone: a bomb never reaches the validation rules.
    validate: (schema, doc, rules, options) => {
      const refused = limitErrors(doc, limits);
      return refused.length
        ? refused
        : validate(schema, doc, rules, options).map((e) => withCode(e, VALIDATION_FAILED));
    },
    // A result with no data is a request error (graphql-js could not coerce the variables: the
    // client's input): BAD_USER_INPUT, and, as the spec wants under application/graphql-response+json,
    // a 4xx, which graphql-http gives to a list of errors only (its makeResponse takes one; its typing
    // of onOperation does not say so, hence the cast).
    onOperation: (_req, _args, result) =>
      "data" in result || !result.errors?.length
        ? undefined
        : (result.errors.map((e) => withCode(e, BAD_USER_INPUT)) as unknown as ExecutionResult),
    formatError: (err) => formatError(err, log),
  });
  return async (req, res) => {
    try {
      const body = await admit(req, res, config.maxBodyBytes);
      if (!body) return;
      const who = res.locals.who as Identity;
      const request = {
        method: "POST",
        url: req.originalUrl,
        headers: req.headers,
        body,
        raw: req,
        context: { who },
      };
      const [text, init] = await handle(request);
      const status = init.status ?? 200;
      const headers = { ...(init.headers as Record<string, string> | undefined) };
      if (text !== null) return send(res, status, headers, text);
      const r = status === 406 ? NOT_ACCEPTABLE : refusal(status, BAD_REQUEST, init.statusText ?? "refused");
      send(res, status, { ...headers, "content-type": JSON_UTF8 }, errorBody(r.code, r.message));
    } catch (err) {
      log.error("graphql: request failed", { error: err instanceof Error ? err.message : String(err) });
      send(res, 500, { "content-type": JSON_UTF8 }, errorBody(INTERNAL, "internal error"));
    }
  };
}
