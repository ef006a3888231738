import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadSessionKeysConfig } from "../config.ts";
import {
  ensureSessionKeys,
  generateJwks,
  HELM_KEEP,
  planSessionKeys,
  type SecretLike,
  type SecretStore,
} from "./session-keys.ts";
import { SessionCodec } from "./session.ts";

const KEY = "session-keys.json";
const b64 = (o: unknown) => Buffer.from(typeof o === "string" ? o : JSON.stringify(o)).toString("base64");
const OPTS = { namespace: "portico", secret: "portico-proxy-session-keys", key: KEY, labels: { a: "b" } };

/** An in-memory Secret store that records every write. */
function memoryStore(initial?: SecretLike, opts: { raceWith?: SecretLike } = {}) {
  let secret = initial;
  let race = opts.raceWith;
  const writes: string[] = [];
  const store: SecretStore = {
    get: async () => (secret ? structuredClone(secret) : undefined),
    async create(_ns, s) {
      if (race) {
        secret = race;
        race = undefined;
      }
      if (secret) return "exists";
      writes.push("create");
      secret = structuredClone(s);
      return "created";
    },
    async annotate(_ns, _name, a) {
      writes.push(`annotate ${JSON.stringify(a)}`);
      secret = {
        ...secret,
        metadata: { ...secret!.metadata, annotations: { ...secret!.metadata?.annotations, ...a } },
      };
    },
  };
  return { store, writes, current: () => secret };
}

describe("generateJwks", () => {
  it("makes one 256-bit A256GCM key with a kid, which SessionCodec accepts", async () => {
    const jwks = generateJwks() as { keys: { k: string; kid: string }[] };
    assert.equal(Buffer.from(jwks.keys[0]!.k, "base64url").length, 32);
    assert.match(jwks.keys[0]!.kid, /^portico-[0-9a-f]{12}$/);
    assert.equal((await SessionCodec.create(jwks)).ephemeral, false);
    assert.notDeepEqual(generateJwks(), generateJwks());
  });
});

describe("planSessionKeys", () => {
  const good = { data: { [KEY]: b64(generateJwks()) } };
  const CASES: [string, SecretLike | undefined, string][] = [
    ["no Secret: create", undefined, "create"],
    ["usable keys: keep", good, "keep"],
    [
      "made by the old lookup chart: adopt",
      { ...good, metadata: { annotations: { "meta.helm.sh/release-name": "p" } } },
      "adopt",
    ],
    [
      "already marked keep: keep",
      { ...good, metadata: { annotations: { "meta.helm.sh/release-name": "p", [HELM_KEEP]: "keep" } } },
      "keep",
    ],
    ["no such key: refuse", { data: { other: good.data[KEY] } }, "refuse"],
    ["not JSON: refuse", { data: { [KEY]: b64("nope") } }, "refuse"],
    [
      "a 128-bit key: refuse",
      {
        data: { [KEY]: b64({ keys: [{ kty: "oct", kid: "x", k: Buffer.alloc(16).toString("base64url") }] }) },
      },
      "refuse",
    ],
    [
      "no kid: refuse",
      { data: { [KEY]: b64({ keys: [{ kty: "oct", k: Buffer.alloc(32).toString("base64url") }] }) } },
      "refuse",
    ],
  ];
  for (const [name, secret, want] of CASES)
    it(name, async () => assert.equal((await planSessionKeys(secret, KEY)).action, want));
});

describe("ensureSessionKeys", () => {
  it("creates the Secret once; a second run keeps the same keys and writes nothing", async () => {
    const m = memoryStore();
    assert.equal((await ensureSessionKeys(m.store, OPTS)).result, "created");
    const first = m.current()!;
    assert.deepEqual(first.metadata?.labels, { a: "b" });
    assert.equal((await ensureSessionKeys(m.store, OPTS)).result, "kept");
    assert.deepEqual(m.current(), first);
    assert.deepEqual(m.writes, ["create"]);
  });

  it("never replaces a Secret without usable keys: refuses, says what to do, writes nothing", async () => {
    const mine = { data: { other: b64("x") } };
    const m = memoryStore(mine);
    const out = await ensureSessionKeys(m.store, OPTS);
    assert.equal(out.result, "refused");
    assert.match(out.message, /has no key "session-keys.json".*delete the Secret/);
    assert.deepEqual(m.current(), mine);
    assert.deepEqual(m.writes, []);
  });

  it("a race lost to another run keeps the winner's keys", async () => {
    const winner = { data: { [KEY]: b64(generateJwks()) } };
    const m = memoryStore(undefined, { raceWith: winner });
    assert.equal((await ensureSessionKeys(m.store, OPTS)).result, "kept");
    assert.deepEqual(m.current(), winner);
  });

  it("adopts the old chart's Secret by marking it for Helm to keep, keys untouched", async () => {
    const old = {
      metadata: { annotations: { "meta.helm.sh/release-name": "portico" } },
      data: { [KEY]: b64(generateJwks()) },
    };
    const m = memoryStore(old);
    assert.equal((await ensureSessionKeys(m.store, OPTS)).result, "adopted");
    assert.deepEqual(m.current()!.data, old.data);
    assert.deepEqual(m.writes, [`annotate {"${HELM_KEEP}":"keep"}`]);
  });

  it("never puts key material in its messages", async () => {
    const jwks = generateJwks() as { keys: { k: string }[] };
    const bad = { ...jwks, keys: [{ ...jwks.keys[0], kid: "" }] };
    const out = await ensureSessionKeys(memoryStore({ data: { [KEY]: b64(bad) } }).store, OPTS);
    assert.equal(out.result, "refused");
    assert.ok(!out.message.includes(jwks.keys[0]!.k));
  });
});

describe("loadSessionKeysConfig", () => {
  it("reads flags and PORTICO_* variables", () => {
    const c = loadSessionKeysConfig(["--secret=k", "--labels=app.kubernetes.io/name=portico,x=y"], {
      PORTICO_NAMESPACE: "ns",
    });
    assert.deepEqual(
      { ...c, labels: { ...c.labels } },
      {
        kubeconfig: undefined,
        namespace: "ns",
        secret: "k",
        key: KEY,
        labels: { "app.kubernetes.io/name": "portico", x: "y" },
      },
    );
  });
  it("refuses to run without a namespace and Secret, naming both", () => {
    assert.throws(() => loadSessionKeysConfig([], {}), /--namespace \(or PORTICO_NAMESPACE\)[\s\S]*--secret/);
  });
});
