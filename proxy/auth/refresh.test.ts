import { test } from "node:test";
import assert from "node:assert/strict";
import { identityFromClaims } from "./identity.ts";
import { applyRefresh, DEFAULT_TOKEN_TTL_MS, flightKey, SingleFlight, tokenExpiry } from "./refresh.ts";
import type { Session } from "./session.ts";

const NOW = 1_000_000;
const session = (over: Partial<Session> = {}): Session => ({
  sub: "sub-alice",
  user: "alice",
  email: "alice@example.test",
  groups: ["team-a"],
  roles: [],
  exp: NOW + 3_600_000,
  tokenExp: NOW - 1,
  refreshToken: "rt-1",
  accessToken: "at-1",
  ...over,
});
const identify = (c: Parameters<typeof identityFromClaims>[0]) => identityFromClaims(c, "session");

test("a refresh answer without an ID token keeps the session's identity and takes the new tokens", () => {
  const out = applyRefresh(
    session(),
    { accessToken: "at-2", refreshToken: "rt-2", expiresIn: 300 },
    NOW,
    identify,
  );
  assert.ok("session" in out);
  assert.deepEqual(out.session, {
    ...session(),
    accessToken: "at-2",
    refreshToken: "rt-2",
    tokenExp: NOW + 300_000,
  });
});

test("a refresh answer without a new refresh token keeps the old one (no rotation)", () => {
  const out = applyRefresh(session(), { accessToken: "at-2", expiresIn: 60 }, NOW, identify);
  assert.ok("session" in out);
  assert.equal(out.session.refreshToken, "rt-1");
});

test("a new ID token with the same sub updates the identity (groups, roles, email)", () => {
  const claims = { sub: "sub-alice", preferred_username: "alice", groups: ["/team-b"], exp: NOW / 1000 + 60 };
  const out = applyRefresh(session(), { idToken: "id-2", claims, expiresIn: 300 }, NOW, identify);
  assert.ok("session" in out);
  assert.deepEqual(out.session.groups, ["/team-b", "team-b"]);
  assert.equal(out.session.email, undefined, "the new token has no email: the old one is not kept");
  assert.equal(out.session.tokenExp, NOW + 60_000, "the earlier of the ID token's exp and expires_in");
});

test("attack: a refreshed ID token naming another sub ends the session", () => {
  for (const claims of [
    { sub: "sub-mallory", preferred_username: "alice" }, // same name, other subject
    { sub: "sub-mallory", preferred_username: "mallory" },
    { sub: "", preferred_username: "alice" },
    { preferred_username: "alice" },
  ]) {
    const out = applyRefresh(session(), { idToken: "x", claims, expiresIn: 300 }, NOW, identify);
    assert.ok("reason" in out, JSON.stringify(claims));
  }
});

test("token expiry: the earliest the provider said, capped by the session, with a default", () => {
  assert.equal(tokenExpiry({}, NOW, NOW + 10 * 60_000), NOW + DEFAULT_TOKEN_TTL_MS);
  assert.equal(tokenExpiry({ expiresIn: 30 }, NOW, NOW + 10 * 60_000), NOW + 30_000);
  assert.equal(tokenExpiry({ expiresIn: 3000 }, NOW, NOW + 60_000), NOW + 60_000);
  assert.equal(
    tokenExpiry({ claims: { exp: NOW / 1000 + 10 }, expiresIn: 300 }, NOW, Infinity),
    NOW + 10_000,
  );
});

test("flight keys are digests: equal for the same token, never the token itself", () => {
  assert.equal(flightKey("rt-1"), flightKey("rt-1"));
  assert.notEqual(flightKey("rt-1"), flightKey("rt-2"));
  assert.doesNotMatch(flightKey("rt-secret"), /rt-secret/);
});

test("single flight: parallel callers of one key share one run; late callers reuse it while fresh", async () => {
  let now = 0;
  let runs = 0;
  const sf = new SingleFlight<string>({ reuseMs: () => 1000, maxKeys: 10, now: () => now });
  let release!: (v: string) => void;
  const work = () => {
    runs++;
    return new Promise<string>((r) => (release = r));
  };
  const waiting = Array.from({ length: 8 }, () => sf.run("k", work));
  assert.equal(runs, 1, "one refresh in flight");
  now = 50_000; // however long the provider takes, the flight is shared
  assert.notEqual(sf.run("k", work), undefined);
  assert.equal(runs, 1);
  release("new session");
  assert.deepEqual(await Promise.all(waiting), Array(8).fill("new session"));
  now += 999;
  assert.equal(await sf.run("k", work), "new session", "a late request with the old cookie");
  assert.equal(runs, 1);
  now += 2;
  void sf.run("k", async () => (runs++, "again"));
  assert.equal(runs, 2, "after the reuse window, a new run");
  void sf.run("other", async () => (runs++, "x"));
  assert.equal(runs, 3, "another key runs on its own");
});

test("single flight: a rejection is not kept; memory is bounded to settled entries", async () => {
  let now = 0;
  const sf = new SingleFlight<number>({ reuseMs: () => 60_000, maxKeys: 3, now: () => now });
  await assert.rejects(sf.run("bad", () => Promise.reject(new Error("down"))));
  now = 1;
  assert.equal(await sf.run("bad", async () => 7), 7, "retried after a rejection");
  for (let i = 0; i < 10; i++) await sf.run(`k${i}`, async () => i);
  assert.ok(sf.size <= 3, `size ${sf.size}`);
});
