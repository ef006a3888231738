#!/bin/sh
# The pod runner's stand-in for codercom/code-server images (e2e/runner/images.yaml): the code-server
# that install-code-server.sh put in the cache, run in the pod's working directory (its workspace
# volume, the class's /home/coder), which also holds code-server's home, config and user data, as
# the image's /home/coder would. The runner passes the bind address and flags after the class's args.
set -eu
bin="$(bash "$(dirname "$0")/install-code-server.sh" --check)"
export HOME="$PWD" XDG_CONFIG_HOME="$PWD/.config" XDG_DATA_HOME="$PWD/.local/share" XDG_CACHE_HOME="$PWD/.cache"
exec "$bin" --user-data-dir "$PWD/.local/share/code-server" "$@"
