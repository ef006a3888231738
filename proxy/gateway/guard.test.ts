import assert from "node:assert/strict";
import { test } from "node:test";
import { compileUrlPolicy } from "../../common/model/gateway/address.ts";
import { AddressRefused, guardedLookup, refusedAddress } from "./guard.ts";

const policy = compileUrlPolicy({
  podCidrs: ["198.18.0.0/16"],
  serviceCidrs: ["198.19.0.0/16"],
  clusterDomain: "cluster.local",
  allow: ["allowed.example"],
});
/** A resolver with fixed answers: what DNS would say for each name. */
const answers: Record<string, string[]> = {
  "rebind.example": ["93.184.216.34", "127.0.0.1"],
  "pod.example": ["::ffff:198.18.128.1"],
  "ok.example": ["93.184.216.34"],
  "allowed.example": ["198.19.0.1"],
};
const lookup = guardedLookup(policy, (h, _o, cb) =>
  cb(
    null,
    (answers[h] ?? []).map((address) => ({ address, family: address.includes(":") ? 6 : 4 })),
  ),
);
const ask = (host: string, all: boolean) =>
  new Promise<{ err: Error | null; address: unknown }>((resolve) =>
    lookup(
      host,
      { all } as never,
      ((err: Error | null, address: unknown) => resolve({ err, address })) as never,
    ),
  );

test("a name with any refused address is refused, whichever form the caller asks for", async () => {
  for (const all of [true, false]) {
    const r = await ask("rebind.example", all);
    assert.ok(r.err instanceof AddressRefused);
    assert.match(r.err.message, /rebind\.example resolves to a refused address: 127\.0\.0\.1 is loopback/);
    assert.equal(refusedAddress(new Error("wrapped", { cause: r.err })), r.err);
    const p = await ask("pod.example", all);
    assert.match(String(p.err?.message), /pod CIDR/);
  }
});

test("a public name, and an allowed one, resolve as usual", async () => {
  assert.deepEqual(await ask("ok.example", false), { err: null, address: "93.184.216.34" });
  assert.deepEqual(await ask("ok.example", true), {
    err: null,
    address: [{ address: "93.184.216.34", family: 4 }],
  });
  assert.deepEqual(await ask("allowed.example", false), { err: null, address: "198.19.0.1" });
  assert.equal(refusedAddress(new Error("other")), undefined);
});
