import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { SessionCodec, type Session } from "./session.ts";

const octKey = (kid: string) => ({
  kty: "oct",
  kid,
  k: randomBytes(32).toString("base64url"),
  alg: "A256GCM",
});
const session = (over: Partial<Session> = {}): Session => ({
  sub: "s-1",
  user: "alice",
  groups: ["team-a"],
  roles: [],
  exp: 10_000,
  tokenExp: 5_000,
  refreshToken: "rt-secret",
  ...over,
});

test("a sealed session opens with the same keys, and says nothing readable", async () => {
  const codec = await SessionCodec.create({ keys: [octKey("k1")] });
  const sealed = await codec.seal(session());
  assert.equal(sealed.split(".").length, 5, "compact JWE");
  assert.doesNotMatch(Buffer.from(sealed.split(".")[3]!, "base64url").toString("latin1"), /alice|rt-secret/);
  assert.deepEqual(await codec.openSession(sealed, 0), session());
});

test("expired, tampered, foreign or malformed cookies open to nothing", async () => {
  const codec = await SessionCodec.create({ keys: [octKey("k1")] });
  const other = await SessionCodec.create({ keys: [octKey("k1")] }); // same kid, other key
  const sealed = await codec.seal(session({ exp: 1000 }));
  assert.equal(await codec.openSession(sealed, 1000), undefined, "expired");
  const parts = sealed.split(".");
  const flipped = Buffer.from(parts[3]!, "base64url");
  flipped[0] = flipped[0]! ^ 1;
  parts[3] = flipped.toString("base64url");
  assert.equal(await codec.openSession(parts.join("."), 0), undefined, "ciphertext altered");
  assert.equal(await other.openSession(sealed, 0), undefined, "sealed with another key");
  for (const junk of ["", "a.b.c.d.e", "x".repeat(9000), "e30.e30.e30"])
    assert.equal(await codec.openSession(junk, 0), undefined);
  const login = await codec.seal({ state: "s", nonce: "n", verifier: "v", returnTo: "/", exp: 10 });
  assert.equal(await codec.openSession(login, 0), undefined, "a login state is not a session");
  assert.ok(await codec.openLogin(login, 0));
});

test("rotation: a new first key seals, the old one still opens what it sealed", async () => {
  const k1 = octKey("k1");
  const k2 = octKey("k2");
  const before = await SessionCodec.create({ keys: [k1] });
  const old = await before.seal(session());
  const after = await SessionCodec.create({ keys: [k2, k1] });
  assert.ok(await after.openSession(old, 0));
  const fresh = await after.seal(session());
  assert.equal(JSON.parse(Buffer.from(fresh.split(".")[0]!, "base64url").toString()).kid, "k2");
  assert.equal(await before.openSession(fresh, 0), undefined, "k1 alone cannot open a k2 session");
});

test("bad key files are refused with a reason; no file means a generated, ephemeral key", async () => {
  await assert.rejects(SessionCodec.create({}), /keys/);
  await assert.rejects(
    SessionCodec.create({ keys: [{ ...octKey("k"), k: randomBytes(16).toString("base64url") }] }),
    /256-bit/,
  );
  await assert.rejects(
    SessionCodec.create({ keys: [{ kty: "oct", k: randomBytes(32).toString("base64url") }] }),
    /kid/,
  );
  const gen = await SessionCodec.create();
  assert.equal(gen.ephemeral, true);
  assert.ok(await gen.openSession(await gen.seal(session()), 0));
});

test("a logout hint (the ID token for id_token_hint) is neither a session nor a login", async () => {
  const codec = await SessionCodec.create({ keys: [octKey("k1")] });
  const hint = await codec.seal({ sub: "s-1", idToken: "h.p.s", exp: 10_000 });
  assert.deepEqual(await codec.openHint(hint, 0), { sub: "s-1", idToken: "h.p.s", exp: 10_000 });
  assert.equal(await codec.openHint(hint, 10_000), undefined, "expired");
  assert.equal(await codec.openSession(hint, 0), undefined);
  assert.equal(await codec.openLogin(hint, 0), undefined);
  assert.equal(await codec.openHint(await codec.seal(session()), 0), undefined, "a session is no hint");
});
