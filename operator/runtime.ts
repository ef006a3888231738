/**
 * How the operator's Node process is started: V8 flags must be on the command line (they size the
 * heap and choose its policies when the process starts).
 *
 * `--optimize-for-size`: V8 favours memory over speed (smaller heap growth steps, leaner code). The
 * operator is idle most of the time even while it creates 1,000 workspaces at once, and its RSS is
 * mostly V8's: loading client-node alone costs about 90 MiB. Measured on this machine, loading
 * client-node and parsing a burst of JSON: 181 → 111 MiB RSS; bench:operator with 1,000 Workspaces
 * in docs/benchmarks.md runs with it.
 *
 * Everything that starts the operator uses these: the tests and benchmarks (e2e/lib/operator.ts),
 * the demo (scripts/demo.sh) and the image (Dockerfile.operator).
 */
export const OPERATOR_NODE_ARGS: readonly string[] = ["--optimize-for-size"];
