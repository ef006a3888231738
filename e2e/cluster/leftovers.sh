#!/usr/bin/env bash
# Fails (and says what) when a cluster left anything behind: its network namespace, or a process
# whose command line names its state directory.
set -uo pipefail
ns="$1" state="$2" bad=0
if ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$ns"; then echo "leftover: network namespace $ns"; bad=1; fi
procs="$(pgrep -af -- "$state" | grep -v -e leftovers.sh -e pgrep || true)"
if [[ -n $procs ]]; then echo "leftover processes:"; echo "$procs"; bad=1; fi
[[ $bad -eq 0 ]] && echo "no leftovers: namespace $ns gone, no process names $state"
exit $bad
