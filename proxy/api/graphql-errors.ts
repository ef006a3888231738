/**
 * Every GraphQL refusal carries `extensions.code`; this module decides which. The service's ApiError
 * codes map one to one (with its `field` and `details`, e.g. a limit's candidates); the phases of a
 * request get the codes GraphQL servers commonly use (GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED,
 * BAD_USER_INPUT, INTERNAL_SERVER_ERROR), so a client can branch on them without reading messages.
 * Unexpected errors are logged here and leave as "internal error": no stack, no internal message.
 */
import { GraphQLError } from "graphql";
import type { Logger } from "../../common/runtime/log.ts";
import { ApiError, type ApiErrorCode } from "./types.ts";

/** `extensions.code` of each service error (a Record, so a new ApiErrorCode must be mapped here). */
export const GRAPHQL_CODES: Readonly<Record<ApiErrorCode, string>> = Object.freeze({
  bad_request: "BAD_USER_INPUT",
  invalid: "BAD_USER_INPUT",
  unprocessable: "BAD_USER_INPUT",
  unauthenticated: "UNAUTHENTICATED",
  forbidden: "FORBIDDEN",
  not_found: "NOT_FOUND",
  conflict: "CONFLICT",
  precondition_failed: "PRECONDITION_FAILED",
  too_many_workspaces: "TOO_MANY_WORKSPACES",
  too_many_running: "TOO_MANY_RUNNING",
  repository_access_denied: "REPOSITORY_ACCESS_DENIED",
  unavailable: "UNAVAILABLE",
  payload_too_large: "PAYLOAD_TOO_LARGE",
  unsupported_media_type: "UNSUPPORTED_MEDIA_TYPE",
  method_not_allowed: "METHOD_NOT_ALLOWED",
});

/** Codes of the request's own phases. */
export const BAD_REQUEST = "BAD_REQUEST";
export const BAD_USER_INPUT = "BAD_USER_INPUT";
export const PARSE_FAILED = "GRAPHQL_PARSE_FAILED";
export const VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED";
export const INTERNAL = "INTERNAL_SERVER_ERROR";

/** graphql-http's words when operationName picks no operation of the document. */
const NO_OPERATION = "Unable to detect operation AST";

/** The same error (message, locations, path) with extensions replaced. */
export function withExtensions(
  err: GraphQLError,
  extensions: Record<string, unknown>,
  message = err.message,
): GraphQLError {
  return new GraphQLError(message, {
    ...(err.nodes ? { nodes: err.nodes } : {}),
    ...(err.source ? { source: err.source } : {}),
    ...(err.positions ? { positions: err.positions } : {}),
    ...(err.path ? { path: err.path } : {}),
    extensions,
  });
}

/** The same error with `code` added, unless it has one already. */
export const withCode = (err: GraphQLError, code: string): GraphQLError =>
  typeof err.extensions.code === "string" ? err : withExtensions(err, { ...err.extensions, code });

/** A refusal of an argument: BAD_USER_INPUT naming it in `extensions.field`. */
export const userInputError = (message: string, field: string): GraphQLError =>
  new GraphQLError(message, { extensions: { code: BAD_USER_INPUT, field } });

/** extensions of a service refusal. */
export const apiErrorExtensions = (e: ApiError): Record<string, unknown> => ({
  code: GRAPHQL_CODES[e.code] ?? INTERNAL,
  ...(e.field !== undefined ? { field: e.field } : {}),
  ...(e.details !== undefined ? { details: e.details } : {}),
});

/**
 * graphql-http's `formatError`: each error of a response, as the client sees it.
 * - a plain Error: graphql-http's own check of the request parameters ("Missing query", "Invalid
 *   variables"): its fixed words, BAD_REQUEST;
 * - coded already (limits, arguments, parse, validation): as is;
 * - thrown by the service as ApiError: its message, code, field and details;
 * - operationName naming no operation: BAD_REQUEST, saying what to send;
 * - anything else a resolver threw, or a path-bearing error graphql-js made (a null where the schema
 *   promised none): logged, and "internal error";
 * - no path, no cause: graphql-js coercing the variables, BAD_USER_INPUT.
 */
export function formatError(err: Readonly<GraphQLError | Error>, log: Logger): GraphQLError {
  if (!(err instanceof GraphQLError))
    return new GraphQLError(err.message, { extensions: { code: BAD_REQUEST } });
  if (typeof err.extensions.code === "string") return err;
  const cause = err.originalError;
  if (cause instanceof ApiError) return withExtensions(err, apiErrorExtensions(cause), cause.message);
  if (!cause && err.message === NO_OPERATION)
    return withExtensions(
      err,
      { code: BAD_REQUEST, field: "operationName" },
      "operationName names no operation of the query: a query with several operations needs the name of the one to run",
    );
  if (cause || err.path) {
    log.error("graphql: operation failed unexpectedly", {
      path: err.path?.join("."),
      error: cause?.message ?? err.message,
      ...(cause?.stack ? { stack: cause.stack } : {}),
    });
    return withExtensions(err, { code: INTERNAL }, "internal error");
  }
  return withCode(err, BAD_USER_INPUT);
}
