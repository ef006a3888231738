#!/usr/bin/env bash
# Benchmarks against a fresh local cluster (torn down afterwards): npm run bench:operator [-- N]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bench="$1"; shift
export PORTICO_NETNS="${PORTICO_NETNS:-portico-bench}"
export PORTICO_CLUSTER_STATE="${PORTICO_CLUSTER_STATE:-$repo/.state/$PORTICO_NETNS}"
bash scripts/deps.sh
trap 'bash e2e/cluster/cluster.sh down' EXIT
bash e2e/cluster/cluster.sh up >/dev/null
bash e2e/cluster/cluster.sh exec -- node "e2e/bench/$bench.ts" "$@"
