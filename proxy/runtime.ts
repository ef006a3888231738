/**
 * How the proxy's Node process is started: V8 flags must be on the command line (they size the
 * heap when the process starts; `v8.setFlagsFromString` afterwards changes nothing here).
 *
 * `--max-semi-space-size=4` (MiB): V8 grows the young generation up to 16 MiB per semi-space under
 * a burst of allocation — thousands of WebSocket handshakes at once, say — and keeps those pages.
 * Capped at 4 MiB, the resident memory per idle proxied WebSocket fell from 17.3 to 9.5 KiB in
 * `npm run bench:proxy` (9,500 sockets), with no throughput change beyond noise: the run of commit
 * 9b66b17. Later runs replaced that table in docs/benchmarks.md; they run capped (the proxy section's
 * idle-WebSocket table).
 *
 * Everything that starts the proxy uses these: the tests and benchmarks (e2e/lib/proxy.ts,
 * e2e/bench/proxy-portico.ts), the demo (scripts/demo.sh) and the image (Dockerfile.proxy).
 */
export const PROXY_NODE_ARGS: readonly string[] = ["--max-semi-space-size=4"];
