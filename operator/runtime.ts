/**
 * How the operator's Node process is started: V8 flags must be on the command line (they size the
 * heap when the process starts).
 *
 * Everything that starts the operator uses these: the tests and benchmarks (e2e/lib/operator.ts),
 * the demo (scripts/demo.sh) and the image (Dockerfile.operator).
 */
export const OPERATOR_NODE_ARGS: readonly string[] = [];
