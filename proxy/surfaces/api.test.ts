/**
 * The API surface's pure passes: which paths it claims, and the origin refusal in the API's words.
 * (The surface on real sockets, inside the whole proxy: proxy/server-api.test.ts.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkOrigin } from "../http/origin.ts";
import { kindOf } from "../metrics.ts";
import { apiOriginRefusal, claimsPath } from "./api.ts";

test("claims /graphql and /api/v1 with everything under it, but not the connect path", () => {
  for (const p of [
    "/graphql",
    "/api/v1",
    "/api/v1/",
    "/api/v1/workspaces",
    "/api/v1/nope/deep",
    "/api/v1/connector",
  ])
    assert.ok(claimsPath(p), p);
  for (const p of [
    "/api/v1/connect",
    "/api/v1/connect/ns/alice/jupyterlab/",
    "/api/v2/x",
    "/api/v10",
    "/graphql/x",
    "/",
    "/w/ns/a/",
  ])
    assert.ok(!claimsPath(p), p);
});

test("the origin refusal says who may call the API, keeping the origin that was refused", () => {
  const r = checkOrigin(
    "POST",
    { origin: "http://evil.example" },
    { scheme: "https", host: "portico.test", allowListHint: "-" },
  )!;
  const mine = apiOriginRefusal(r);
  assert.equal(mine.status, 403);
  assert.equal(mine.body.error, "cross_origin");
  assert.equal(
    mine.body.message,
    'a POST request from origin "http://evil.example" is refused: only pages of https://portico.test itself may ' +
      "change things through the API (clients that send no Origin header, such as curl or a script with a bearer token, may too)",
  );
});

test("API routes are timed as kind api, never as a workspace", () => {
  assert.equal(kindOf("api:POST /api/v1/workspaces/{ns}/{name}/start"), "api");
  assert.equal(kindOf("api"), "api");
  assert.equal(kindOf("apis/x"), "workspace", "a namespace named like the prefix is still a workspace");
  assert.equal(kindOf("gateway:ns/r"), "gateway");
});
