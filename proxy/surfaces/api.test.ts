/**
 * The API surface's pure passes: which paths it claims, and the origin refusal in the API's words.
 * (The surface on real sockets, inside the whole proxy: proxy/server-api.test.ts.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkOrigin } from "../http/origin.ts";
import { kindOf } from "../metrics.ts";
import { apiOriginRefusal, apiServes, claimsPath } from "./api.ts";

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

test("on a GatewayRoute's host the route keeps /api/v1 and /graphql; on Portico's own hosts the API wins", () => {
  const ownHosts = new Set(["portico.test", "console.example.com"]);
  const isWorkspaceHost = (h: string) => h.endsWith(".portico.test") && h.includes("--");
  const at = (gatewayMatches: boolean) => ({
    ownHosts,
    isWorkspaceHost,
    gatewayMatches: () => gatewayMatches,
  });
  // A route on its own host with a matching rule: its backends answer, not the API.
  assert.equal(apiServes("/api/v1/workspaces", "api.example.com", at(true)), false);
  assert.equal(apiServes("/graphql", "api.example.com", at(true)), false);
  // No rule matches there: the API answers as before (any host that is not a workspace's).
  assert.equal(apiServes("/api/v1/workspaces", "api.example.com", at(false)), true);
  // Portico's own hosts: the API, even if a route claims the base domain.
  assert.equal(apiServes("/api/v1/workspaces", "portico.test", at(true)), true);
  assert.equal(apiServes("/graphql", "console.example.com", at(true)), true);
  // A workspace's host never, a path the API does not claim never.
  assert.equal(apiServes("/api/v1/workspaces", "a--ns.portico.test", at(false)), false);
  assert.equal(apiServes("/api/v1/connect/ns/alice/jupyterlab/", "portico.test", at(false)), false);
});
