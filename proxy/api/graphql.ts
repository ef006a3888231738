/**
 * PLACEHOLDER, replaced when the GraphQL work (issue 13 item 4) is merged: the signature the API
 * surface (proxy/surfaces/api.ts) mounts at `POST /graphql` and the docs generator
 * (scripts/api-reference.ts) reads. Until then every GraphQL request is answered 501.
 */
import type { RequestHandler } from "express";
import type { Logger } from "../../common/runtime/log.ts";
import type { ApiConfig, WorkspaceApi } from "./types.ts";

export interface GraphqlDeps {
  api: WorkspaceApi;
  config: Pick<ApiConfig, "graphql" | "git" | "maxBodyBytes">;
  log: Logger;
}

/** An express handler for `POST /graphql` that reads the caller from `res.locals.who`. */
export function createGraphqlHandler(_deps: GraphqlDeps): RequestHandler {
  return (_req, res) => {
    res.status(501).set("cache-control", "no-store").json({
      error: "not_implemented",
      message: "GraphQL is not served by this build yet; use the REST API",
    });
  };
}

/** The schema in SDL, for docs/api.md; undefined while this placeholder stands. */
export function graphqlSchemaText(): string | undefined {
  return undefined;
}
