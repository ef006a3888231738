#!/bin/sh
# The pod runner's stand-in for codercom/code-server images (e2e/runner/images.yaml): the code-server
# that install-code-server.sh put in the cache, run in the pod's working directory (its workspace
# volume, the class's /home/coder), which also holds code-server's home and config, as the image's
# /home/coder would. The runner passes the bind address and flags after the class's args.
#
# A container's /tmp is its own and goes with it: /tmp/code-server in the class's args and in
# XDG_DATA_HOME (the vscode class keeps code-server's user data and heartbeat there, out of the opened
# folder: docs/lifecycle.md) becomes a directory of this process's own, beside the volume (so under
# the cluster's state directory, removed with it), never a /tmp shared by every pod on this machine.
set -eu
bin="$(bash "$(dirname "$0")/install-code-server.sh" --check)"
private="$(mktemp -d "$(dirname "$PWD")/code-server-tmp.XXXXXX")"
case "${XDG_DATA_HOME:-}" in
  /tmp/code-server*) XDG_DATA_HOME="$private${XDG_DATA_HOME#/tmp/code-server}" ;;
  *) XDG_DATA_HOME="$PWD/.local/share" ;;
esac
export HOME="$PWD" XDG_CONFIG_HOME="$PWD/.config" XDG_DATA_HOME XDG_CACHE_HOME="$PWD/.cache"
for a do
  shift
  case "$a" in
    *=/tmp/code-server*) a="${a%%=*}=$private${a#*=/tmp/code-server}" ;;
    /tmp/code-server*) a="$private${a#/tmp/code-server}" ;;
  esac
  set -- "$@" "$a"
done
exec "$bin" --user-data-dir "$PWD/.local/share/code-server" "$@"
