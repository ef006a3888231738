/**
 * trusted-headers mode without sockets: the gateway proves itself with the shared secret (and, when
 * configured, comes from a trusted range) before any identity header counts. An attack table.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { noopLogger } from "../../common/runtime/types.ts";
import type { Logger } from "../../common/runtime/log.ts";
import { loadConfig } from "../config.ts";
import { Gate, parseGatewaySecrets, type Identified } from "./gate.ts";

const dir = mkdtempSync(join(tmpdir(), "portico-gate-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const SECRET = "a".repeat(20) + "0123456789abcdef0123";
const NEXT = "n".repeat(40);
const file = join(dir, "secret");
writeFileSync(file, `\n  ${SECRET}  \n${NEXT}\n`);

const logged: unknown[] = [];
const log: Logger = {
  ...noopLogger,
  info: (msg: string, meta?: unknown) => void logged.push([msg, meta]),
  child: () => log,
};

async function gate(flags: string[]): Promise<Gate> {
  const c = loadConfig(["--auth=trusted-headers", `--trusted-header-secret-file=${file}`, ...flags], {});
  return Gate.create({
    config: c.identity,
    mode: c.auth,
    sessionCookie: c.sessionCookie,
    baseDomain: "portico.test",
    log,
  });
}

const req = (peer: string, headers: Record<string, string | string[]>) =>
  ({ headers: { ...headers }, socket: { remoteAddress: peer } }) as unknown as IncomingMessage;

const who = (i: Identified) => ("who" in i ? i.who.user : `refused: ${i.reason}`);

const G = "x-portico-gateway-secret";
/** [attack, peer, headers, expected: a user, or a refusal matching] */
const ROWS: [string, string, Record<string, string | string[]>, string | RegExp][] = [
  ["the gateway: secret and user", "10.1.2.3", { [G]: SECRET, "x-forwarded-user": "alice" }, "alice"],
  [
    "the gateway with the next secret (rotation)",
    "10.1.2.3",
    { [G]: NEXT, "x-forwarded-user": "alice" },
    "alice",
  ],
  [
    "a pod in the trusted range forging a user, no secret",
    "10.9.9.9",
    { "x-forwarded-user": "alice" },
    /no x-portico-gateway-secret header/,
  ],
  [
    "a wrong secret",
    "10.1.2.3",
    { [G]: "b".repeat(40), "x-forwarded-user": "alice" },
    /wrong x-portico-gateway-secret/,
  ],
  ["a prefix of the secret", "10.1.2.3", { [G]: SECRET.slice(0, 10), "x-forwarded-user": "alice" }, /wrong/],
  ["the secret with a suffix", "10.1.2.3", { [G]: `${SECRET}x`, "x-forwarded-user": "alice" }, /wrong/],
  ["an empty secret", "10.1.2.3", { [G]: "", "x-forwarded-user": "alice" }, /wrong/],
  [
    "the secret twice in one header",
    "10.1.2.3",
    { [G]: `${SECRET}, ${SECRET}`, "x-forwarded-user": "alice" },
    /wrong/,
  ],
  [
    "the secret as two header lines",
    "10.1.2.3",
    { [G]: [SECRET, SECRET], "x-forwarded-user": "alice" },
    /wrong/,
  ],
  [
    "both secrets in one header",
    "10.1.2.3",
    { [G]: `${SECRET}\n${NEXT}`, "x-forwarded-user": "alice" },
    /wrong/,
  ],
  ["the right secret, no user", "10.1.2.3", { [G]: SECRET }, /no X-Forwarded-User/],
];

for (const [attack, peer, headers, want] of ROWS)
  test(`trusted headers: ${attack}`, async () => {
    const g = await gate([]);
    const r = req(peer, headers);
    const got = who(await g.identify(r));
    if (typeof want === "string") assert.equal(got, want);
    else assert.match(got, want);
    assert.equal(r.headers[G], undefined, "the secret header is gone from the request, whatever the outcome");
  });

test("trusted headers with ranges: the secret from outside them counts for nothing", async () => {
  const g = await gate(["--trusted-header-cidrs=10.1.0.0/16"]);
  assert.equal(who(await g.identify(req("10.1.2.3", { [G]: SECRET, "x-forwarded-user": "bob" }))), "bob");
  assert.match(
    who(await g.identify(req("10.2.0.1", { [G]: SECRET, "x-forwarded-user": "bob" }))),
    /not a trusted source/,
  );
  assert.match(
    who(await g.identify(req("::ffff:10.2.0.1", { [G]: SECRET, "x-forwarded-user": "bob" }))),
    /not a trusted source/,
  );
});

test("a configured header name is the one checked (and removed)", async () => {
  const g = await gate(["--trusted-header-secret-name=X-Mesh-Proof"]);
  const r = req("10.1.2.3", { "x-mesh-proof": SECRET, [G]: SECRET, "x-forwarded-user": "carol" });
  assert.equal(who(await g.identify(r)), "carol");
  assert.equal(r.headers["x-mesh-proof"], undefined);
  assert.match(
    who(await g.identify(req("10.1.2.3", { [G]: SECRET, "x-forwarded-user": "carol" }))),
    /no x-mesh-proof/,
  );
});

test("the secret is never in a log line", async () => {
  const g = await gate([]);
  for (const v of [SECRET, `${SECRET}x`, "wrong-but-logged?"]) {
    const r = req("10.1.2.3", { [G]: v, "x-forwarded-user": "alice" });
    const i = await g.identify(r);
    if ("reason" in i) g.logRefusal(r, i);
  }
  const text = JSON.stringify(logged);
  assert.ok(logged.length >= 2, "refusals were logged");
  assert.ok(!text.includes(SECRET.slice(0, 16)) && !text.includes("wrong-but-logged"), text);
});

test("the secret file: one secret a line, at least 32 characters, named (never quoted) when bad", () => {
  assert.deepEqual(parseGatewaySecrets(` ${SECRET}\r\n\r\n${NEXT}\n`, "/f"), [SECRET, NEXT]);
  assert.throws(() => parseGatewaySecrets("\n \n", "/etc/gw"), /\/etc\/gw holds no secret/);
  assert.throws(
    () => parseGatewaySecrets("short-secret-here", "/etc/gw"),
    (e: Error) => /at least 32 characters/.test(e.message) && !e.message.includes("short-secret-here"),
  );
});
