import { test } from "node:test";
import assert from "node:assert/strict";
import { forwardedToken, identityFromClaims, mayOpen, type Identity } from "./identity.ts";

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

test("forwardToken: only the owner's own token is forwarded, never a sharee's or an admin's", () => {
  const as = (user: string, extra: Partial<Identity> = {}): Identity => ({
    user,
    groups: ["team-a"],
    roles: [],
    via: "bearer",
    token: `token-of-${user}`,
    ...extra,
  });
  const rows: [string, Identity, string | undefined][] = [
    ["the owner", as("alice"), "token-of-alice"],
    ["the owner by session", as("alice", { via: "session" }), "token-of-alice"],
    ["a sharee", as("bob"), undefined],
    ["an admin", as("root", { roles: ["portico-admin"] }), undefined],
    [
      "the owner without a token (trusted headers)",
      as("alice", { via: "headers", token: undefined }),
      undefined,
    ],
    ["the anonymous user of --auth=none named like the owner", as("alice", { via: "none" }), undefined],
  ];
  for (const [name, who, want] of rows) assert.equal(forwardedToken(who, "alice"), want, name);
});
