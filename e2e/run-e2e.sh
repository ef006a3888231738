#!/usr/bin/env bash
# End-to-end tests only, against a fresh local cluster (torn down afterwards): npm run test:e2e [FILES...]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export PORTICO_NETNS="${PORTICO_NETNS:-portico-e2e}"
export PORTICO_CLUSTER_STATE="${PORTICO_CLUSTER_STATE:-$repo/.state/$PORTICO_NETNS}"
trap 'bash e2e/cluster/cluster.sh down; bash e2e/cluster/leftovers.sh "$PORTICO_NETNS" "$PORTICO_CLUSTER_STATE" "${netns_inode:-}"' EXIT
# The console app the proxies serve (proxy/console/dist/; startProxy builds it too when it is missing).
"$repo/node_modules/.bin/node" scripts/build-console.ts >/dev/null
bash e2e/cluster/cluster.sh up >/dev/null
netns_inode="$(stat -L -c %i "/run/netns/$PORTICO_NETNS")"
if (($#)); then files=("$@"); else mapfile -t files < <(ls e2e/tests/*.test.ts); fi
bash e2e/cluster/cluster.sh exec -- node --test --test-concurrency=1 --test-timeout=600000 --test-reporter=spec "${files[@]}"
