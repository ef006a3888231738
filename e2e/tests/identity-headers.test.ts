/**
 * `--auth=trusted-headers` (behind Istio RequestAuthentication): X-Forwarded-User / -Email /
 * -Groups are believed only from a sender that proves it is the gateway with the shared secret
 * (`--trusted-header-secret-file`), and from the configured source ranges. Proxies in front of one
 * real workspace: one trusts this test's address range, one trusts another range only (the secret
 * does not make up for the range). The attacks on it are in attacks-identity.test.ts.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { stateDir } from "../lib/component.ts";
import { eventually } from "../lib/kube.ts";
import { startProxy, type ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";
import { echoClass } from "../lib/workspaces.ts";

const suite = clusterSuite("identity-headers", {
  classes: { echo: echoClass },
  workspaces: [{ name: "echo", class: "echo", owner: "alice", spec: { sharedWith: { groups: ["team-a"] } } }],
});
let trusting: ProxyProcess;
let elsewhere: ProxyProcess;
let limited: ProxyProcess;
const secret = randomBytes(32).toString("hex");
/** What the gateway adds to every request it forwards. */
const GATEWAY = { "x-portico-gateway-secret": secret };

before(async () => {
  await suite.ready();
  suite.onTeardown(async () => {
    await trusting?.stop();
    await elsewhere?.stop();
    await limited?.stop();
  });
  const secretFile = join(stateDir(), "identity-headers-gateway-secret");
  writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
  const proof = `--trusted-header-secret-file=${secretFile}`;
  // Connections to an address in this namespace come from that address: 198.18.0.0/16.
  trusting = await startProxy({
    address: "198.18.0.26",
    port: 8080,
    name: "headers-trusting",
    flags: ["--auth=trusted-headers", proof, "--trusted-header-cidrs=198.18.0.0/16"],
  });
  elsewhere = await startProxy({
    address: "198.18.0.27",
    port: 8080,
    name: "headers-elsewhere",
    flags: ["--auth=trusted-headers", proof, "--trusted-header-cidrs=10.0.0.0/8"],
  });
  limited = await startProxy({
    address: "198.18.0.28",
    port: 8080,
    name: "headers-limited",
    flags: ["--auth=trusted-headers", proof, "--rate-limit-ip=2", "--rate-limit-burst=5"],
  });
});

function get(px: ProxyProcess, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${px.url}/seen`,
      { headers: { ...headers, host: px.hostFor(suite.ns, "echo") } },
      (res) => {
        let body = "";
        res.on("data", (d) => (body += String(d)));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

test("from the gateway (secret, trusted range): the user in the headers, authorized as any other identity", async () => {
  assert.equal((await get(trusting, { ...GATEWAY, "x-forwarded-user": "alice" })).status, 200, "the owner");
  assert.equal(
    (await get(trusting, { ...GATEWAY, "x-forwarded-user": "bob" })).status,
    403,
    "not shared with bob",
  );
  const viaGroup = await get(trusting, {
    ...GATEWAY,
    "x-forwarded-user": "carol",
    "x-forwarded-groups": "team-b, team-a",
  });
  assert.equal(viaGroup.status, 200, "a shared group");
  // The identity headers and the secret are the gateway's credentials: the IDE never sees them.
  assert.match(viaGroup.body, /x-forwarded-for/i, "the echo shows the headers it got");
  assert.doesNotMatch(viaGroup.body, /x-forwarded-(user|groups|email)|x-portico-gateway-secret/i);
  assert.ok(!viaGroup.body.includes(secret), "the secret stays at the proxy");
  assert.equal((await get(trusting, GATEWAY)).status, 401, "no user header");
  // From the trusted range, but without the secret: a range alone proves nothing.
  assert.equal((await get(trusting, { "x-forwarded-user": "alice" })).status, 401, "no secret");
});

test("from outside the trusted ranges the same headers count for nothing, even with the secret", async () => {
  const res = await get(elsewhere, { ...GATEWAY, "x-forwarded-user": "alice" });
  assert.equal(res.status, 401);
  assert.match(res.body, /unauthenticated/);
  // The log line may land a moment after the answer.
  await eventually(
    "the refusal in the proxy's log",
    async () =>
      /authentication refused.*not a trusted source/.test(readFileSync(elsewhere.logFile, "utf8")) ||
      undefined,
  );
});

test("per client address: past the burst, 429 with Retry-After, before identity is even looked at", async () => {
  const answers = await Promise.all(Array.from({ length: 20 }, () => get(limited, {})));
  const codes = answers.map((a) => a.status);
  // 5 in the burst, and perhaps one more token refilled (2/s) while the 20 arrived.
  const authenticated = codes.filter((x) => x === 401).length;
  assert.ok(authenticated >= 5 && authenticated <= 6, `the burst got to authentication: ${codes.join(",")}`);
  assert.equal(codes.filter((x) => x === 429).length, 20 - authenticated, codes.join(","));
  assert.match(answers.find((a) => a.status === 429)!.body, /rate_limited/);
});
