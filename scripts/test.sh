#!/usr/bin/env bash
# The one test command (README: `npm test`). On a fresh machine it installs what it needs, then:
# typecheck, lint, and every test — unit and end-to-end — in one node:test run inside the network
# namespace of a real local cluster it starts and always tears down. Finally it checks that nothing
# was left behind (no process, no network namespace).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export PORTICO_NETNS="${PORTICO_NETNS:-portico-test}"
export PORTICO_CLUSTER_STATE="${PORTICO_CLUSTER_STATE:-$repo/.state/$PORTICO_NETNS}"

bash scripts/deps.sh
export PATH="$repo/node_modules/.bin:$PATH"
echo "== typecheck"; tsc -p tsconfig.json --noEmit && tsc -p proxy/console/app
echo "== console bundle"; node scripts/build-console.ts >/dev/null
echo "== lint"; eslint . && prettier --check --log-level warn .

cleanup() {
  local rc=$?
  [[ $rc -ne 0 && -d $PORTICO_CLUSTER_STATE/logs ]] && {
    echo "== cluster logs (tail) after failure"
    for l in "$PORTICO_CLUSTER_STATE"/logs/*.log; do echo "--- $l"; tail -n 20 "$l"; done
  }
  bash e2e/cluster/cluster.sh down || true
  bash e2e/cluster/leftovers.sh "$PORTICO_NETNS" "$PORTICO_CLUSTER_STATE" "${netns_inode:-}" || rc=1
  # CI keeps only the tail of the output: repeat the reporter's failure summary last, after the logs.
  if [[ $rc -ne 0 && -s ${test_output:-} ]]; then
    echo "== failing tests (repeated from the report above)"
    sed -n '/failing tests:/,$p' "$test_output" | tail -n 150
  fi
  exit $rc
}
trap cleanup EXIT
echo "== cluster up ($PORTICO_NETNS)"
bash e2e/cluster/cluster.sh up >/dev/null
netns_inode="$(stat -L -c %i "/run/netns/$PORTICO_NETNS")"

echo "== tests"
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.test.ts' | sort)
test_output="$(mktemp -t portico-test-output.XXXXXX)"
bash e2e/cluster/cluster.sh exec -- node --test --test-concurrency=1 --test-timeout=600000 --test-reporter=spec "${files[@]}" \
  2>&1 | tee "$test_output"
