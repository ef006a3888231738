/**
 * Benchmark (not a test): what authentication costs on the proxy's data path. One real workspace
 * (class `bench-backend`: 1 KiB answers over keep-alive), a real OpenID provider
 * (e2e/fixtures/oidc-provider.ts), and two Portico proxies in front of the same backend: one with
 * `--auth=none`, one with `--auth=jwt` verifying a real access token of the workspace's owner on
 * every request (rate limits off, so only verification and authorization are measured). Max load
 * with wrk in rotated rounds; the target is on the median of per-round ratios.
 *
 *   npm run bench:auth [-- --seconds=6 --rounds=5]
 *
 * Prints JSON and writes docs/benchmarks.md's auth section.
 */
import { join } from "node:path";
import { startOidcProvider } from "../lib/oidc.ts";
import { stateDir } from "../lib/operator.ts";
import { benchNetns, startBackend } from "./backend.ts";
import type { Peer } from "./proxy-peers.ts";
import { startPortico } from "./proxy-portico.ts";
import { median, roundOptions, wrkRound, writeSection, type WrkRound } from "./wrk.ts";

const { seconds: SECONDS, rounds: ROUNDS, connections: CONNS } = roundOptions();
const log = (s: string) => process.stderr.write(`[bench:auth] ${s}\n`);

const netns = benchNetns("bench:auth");
const { ns, ready } = await startBackend("bench-auth");

const idp = await startOidcProvider({
  address: "198.18.0.30",
  port: 9000,
  redirectUris: ["http://portico.test/__portico/auth/callback"],
  accessTokenTtl: 3600,
});
const token = (await idp.tokensFor("alice")).accessToken;
const logDir = join(stateDir(), "logs");
const off = await startPortico(ready, "198.18.0.63", 8000, logDir, { name: "portico-auth-off" });
const authHeader = { authorization: `Bearer ${token}` };
const on = await startPortico(ready, "198.18.0.64", 8000, logDir, {
  name: "portico-auth-jwt",
  healthPort: 18291,
  headers: authHeader,
  flags: [
    "--auth=jwt",
    `--oidc-issuer=${idp.issuer}`,
    "--oidc-audiences=portico",
    "--rate-limit-ip=0",
    "--rate-limit-user=0",
  ],
});
const paths: [Peer, Record<string, string>][] = [
  [off.peer, {}],
  [on.peer, authHeader],
];

const round = (p: Peer, headers: Record<string, string>) =>
  wrkRound({ url: p.url, host: p.host!, headers, pids: p.pids }, CONNS, SECONDS);

for (const [p, h] of paths) await round(p, h); // warm-up: JIT, pools, the verified-token cache
const results = new Map(paths.map(([p]) => [p.name, [] as WrkRound[]]));
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 ? [...paths].reverse() : paths;
  for (const [p, h] of order) {
    const x = await round(p, h);
    results.get(p.name)!.push(x);
    log(
      `round ${r + 1}/${ROUNDS} ${p.name}: ${x.rps.toFixed(0)} req/s, ${x.cpuUs.toFixed(1)} µs CPU/req, ${x.errors} non-2xx`,
    );
  }
}
await off.peer.stop();
await on.peer.stop();
await idp.stop();
await ns.drop();

const offR = results.get(off.peer.name)!;
const onR = results.get(on.peer.name)!;
const ratio = median(onR.map((x, i) => x.rps / offR[i]!.rps));
const cpuRatio = median(onR.map((x, i) => x.cpuUs / offR[i]!.cpuUs));
const errors = onR.reduce((a, x) => a + x.errors, 0) + offR.reduce((a, x) => a + x.errors, 0);
const summary = {
  seconds: SECONDS,
  rounds: ROUNDS,
  connections: CONNS,
  off: offR,
  jwt: onR,
  ratio,
  cpuRatio,
  errors,
};
console.log(JSON.stringify(summary, null, 2));

const f0 = (x: number) => x.toFixed(0);
const f2 = (x: number) => x.toFixed(2);
const argv = process.argv.slice(2);
const netnsEnv = netns === "portico-bench" ? "" : `PORTICO_NETNS=${netns} `;
const section = `<!-- auth:start -->
## Proxy: what authentication costs

Command: \`${netnsEnv}npm run bench:auth${argv.length ? ` -- ${argv.join(" ")}` : ""}\` (${new Date().toISOString().slice(0, 10)}; the same 2-vCPU machine and
network namespace as above). One real workspace (\`bench-backend\`), a real OpenID provider (npm
\`oidc-provider\`), and two Portico proxies in front of the same backend: \`--auth=none\`, and
\`--auth=jwt\` checking a real RS256 access token of the owner on every request (signature through the
verified-token cache, claims, authorization; rate limits off). \`wrk -t1 -c${CONNS} -d${SECONDS}s\`, ${ROUNDS} rounds,
order alternating; ${errors} non-2xx answers in all.

| proxy | req/s per round | median | proxy CPU µs/req (median) |
| --- | --- | --- | --- |
| \`--auth=none\` | ${offR.map((x) => f0(x.rps)).join(", ")} | ${f0(median(offR.map((x) => x.rps)))} | ${median(offR.map((x) => x.cpuUs)).toFixed(1)} |
| \`--auth=jwt\` | ${onR.map((x) => f0(x.rps)).join(", ")} | ${f0(median(onR.map((x) => x.rps)))} | ${median(onR.map((x) => x.cpuUs)).toFixed(1)} |

Throughput with JWT auth ÷ without, median of per-round ratios: **${f2(ratio)}** (auth costs
${f0((1 - ratio) * 100)}%; target: at most 20%, ${ratio >= 0.8 ? "met" : "**not met**"}). CPU per request with ÷ without: ${f2(cpuRatio)}.
<!-- auth:end -->`;
log(`wrote ${await writeSection("auth", section)}`);
process.exit(0);
