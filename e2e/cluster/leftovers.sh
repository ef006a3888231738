#!/usr/bin/env bash
# Fails (and says what) when a cluster left anything behind: its network namespace, a process still
# in that namespace's network (by the namespace's inode, taken while it existed), or a process whose
# command line names the cluster's state directory.
#   leftovers.sh NETNS STATE_DIR [NETNS_INODE]
set -uo pipefail
ns="$1" state="$2" inode="${3:-}" bad=0
if ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$ns"; then echo "leftover: network namespace $ns"; bad=1; fi
if [[ -n $inode ]]; then
  for p in /proc/[0-9]*; do
    [[ "$(readlink "$p/ns/net" 2>/dev/null)" == "net:[$inode]" ]] || continue
    echo "leftover: pid ${p#/proc/} still in the namespace's network: $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)"
    bad=1
  done
fi
procs="$(pgrep -af -- "$state" | grep -v -e leftovers.sh -e pgrep || true)"
if [[ -n $procs ]]; then echo "leftover processes:"; echo "$procs"; bad=1; fi
[[ $bad -eq 0 ]] && echo "no leftovers: namespace $ns gone, no process in its network or naming $state"
exit $bad
