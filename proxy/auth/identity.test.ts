import { test } from "node:test";
import assert from "node:assert/strict";
import { identityFromClaims, mayOpen, type Identity } from "./identity.ts";

test("Keycloak claims: preferred_username, email, realm and client roles, group paths", () => {
  const who = identityFromClaims(
    {
      sub: "f3c1",
      preferred_username: "alice",
      email: "alice@example.com",
      realm_access: { roles: ["offline_access", "portico-admin"] },
      resource_access: { "portico-proxy": { roles: ["viewer"] }, other: { roles: ["ignored"] } },
      groups: ["/team-a", "/org/data-science"],
    },
    "bearer",
    "portico-proxy",
  )!;
  assert.equal(who.user, "alice");
  assert.equal(who.email, "alice@example.com");
  assert.deepEqual(new Set(who.roles), new Set(["offline_access", "portico-admin", "viewer"]));
  assert.deepEqual(new Set(who.groups), new Set(["/team-a", "team-a", "/org/data-science", "data-science"]));
});

test("no subject, no identity; no username: the subject is the user", () => {
  assert.equal(identityFromClaims({ preferred_username: "x" }, "bearer"), undefined);
  assert.equal(identityFromClaims({ sub: "" }, "bearer"), undefined);
  assert.equal(identityFromClaims({ sub: "u-1" }, "bearer")!.user, "u-1");
  assert.deepEqual(
    identityFromClaims({ sub: "u-1", groups: "not-a-list", roles: [1, "r"] }, "bearer")!.roles,
    ["r"],
  );
});

test("owner, shared users and groups, and admin roles may open a workspace; nobody else", () => {
  const ws = { owner: "alice", sharedWith: { users: ["bob"], groups: ["team-a"] } };
  const who = (user: string, groups: string[] = [], roles: string[] = []): Identity => ({
    user,
    groups,
    roles,
    via: "session",
  });
  assert.equal(mayOpen(who("alice"), ws, ["portico-admin"]), true);
  assert.equal(mayOpen(who("bob"), ws, ["portico-admin"]), true);
  assert.equal(mayOpen(who("carol", ["team-a"]), ws, ["portico-admin"]), true);
  assert.equal(mayOpen(who("dave", ["team-b"]), ws, ["portico-admin"]), false);
  assert.equal(mayOpen(who("erin", [], ["portico-admin"]), ws, ["portico-admin"]), true);
  assert.equal(mayOpen(who("erin", [], ["portico-admin"]), ws, []), false, "no admin roles configured");
  assert.equal(mayOpen(who("bob"), { owner: "alice" }, []), false, "not shared");
  assert.equal(mayOpen({ user: "anonymous", groups: [], roles: [], via: "none" }, ws, []), true);
});
