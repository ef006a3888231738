#!/usr/bin/env bash
# Installs code-server (VS Code in the browser) from npm into a cache outside the repo, for the pod
# runner's codercom/code-server image mapping, and prints the path of its binary.
#   bash e2e/ide/install-code-server.sh [--check]  →  ~/.cache/portico/code-server-<version>/code-server
# Idempotent: a finished install (marked by a stamp file) is reused; --check never installs.
# Nothing is downloaded except npm packages from the npm registry:
# - native modules (argon2, kerberos, node-pty, …) build from source against the machine's Node
#   headers (Debian nodejs: /usr/include/node) instead of fetching prebuilt binaries; this needs the
#   Debian packages libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev (scripts/deps.sh);
# - @vscode/ripgrep's postinstall would download ripgrep from GitHub; it first looks in
#   $TMPDIR/vscode-ripgrep-cache-<its version>/ripgrep-<tag>-<target>.tar.gz, so a tarball of
#   Debian's /usr/bin/rg (package ripgrep) put there satisfies it.
# This code-server's engine is Node 20, run with Debian's /usr/bin/node (its postinstall checks the
# major version, and its native modules are built for that Node's ABI).
set -euo pipefail

CODE_SERVER_VERSION=4.100.3
# Pinned by code-server's lib/vscode/npm-shrinkwrap.json, and the release tag and target that this
# @vscode/ripgrep's lib/postinstall.js asks for (VERSION, getTarget() on linux x64).
RIPGREP_PKG_VERSION=1.15.11
RIPGREP_TAG=v13.0.0-10
RIPGREP_TARGET=x86_64-unknown-linux-musl
NODE=/usr/bin/node

cache="${PORTICO_CACHE:-$HOME/.cache/portico}/code-server-$CODE_SERVER_VERSION"
# npm's bin/code-server runs on whatever `node` is first on PATH (often Node 24 here); this launcher
# pins the Node it was built for.
bin="$cache/code-server"
log() { echo "[code-server] $*" >&2; }

if [[ -f "$cache/.installed" && -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi
# --check: only say where it is (the pod runner's netns reaches no registry, so never install there).
if [[ "${1:-}" == "--check" ]]; then
  log "not installed in $cache: run bash e2e/ide/install-code-server.sh (scripts/deps.sh does)"
  exit 1
fi

[[ -x "$NODE" ]] || { log "need Node 20 at $NODE (Debian package nodejs)"; exit 1; }
major="$("$NODE" -p 'process.versions.node.split(".")[0]')"
[[ "$major" == 20 ]] || { log "code-server $CODE_SERVER_VERSION needs Node 20; $NODE is v$major"; exit 1; }
[[ -x /usr/bin/rg ]] || { log "need /usr/bin/rg (Debian package ripgrep)"; exit 1; }
[[ -f /usr/include/node/node_version.h ]] || { log "need Node headers in /usr/include/node (Debian nodejs)"; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# @vscode/ripgrep's download cache, filled with Debian's ripgrep.
rgcache="$work/vscode-ripgrep-cache-$RIPGREP_PKG_VERSION"
mkdir -p "$rgcache"
tar -czf "$rgcache/ripgrep-$RIPGREP_TAG-$RIPGREP_TARGET.tar.gz" -C /usr/bin rg

log "installing code-server@$CODE_SERVER_VERSION from npm into $cache (takes a few minutes)"
rm -rf "$cache"
mkdir -p "$cache"
# A plain project, installed from inside it (no --global, no --prefix): code-server's postinstall runs
# `npm install` in its lib/vscode, which inherits npm_config_* and would otherwise install lib/vscode
# into that prefix, over code-server itself.
echo '{ "private": true }' >"$cache/package.json"
started=$SECONDS
# PATH puts Debian's Node first: npm's scripts, node-gyp and code-server's postinstall all use it.
cd "$cache"
env PATH="$(dirname "$NODE"):$PATH" \
  TMPDIR="$work" \
  npm_config_unsafe_perm=true \
  npm_config_yes=true \
  npm_config_build_from_source=true \
  npm_config_nodedir=/usr \
  npm_config_update_notifier=false \
  npm_config_audit=false \
  npm_config_fund=false \
  npm install --no-save --loglevel=error "code-server@$CODE_SERVER_VERSION" >"$work/npm.log" 2>&1 ||
  {
    tail -n 60 "$work/npm.log" >&2
    log "npm install failed (full log above, last 60 lines)"
    rm -rf "$cache"
    exit 1
  }
printf '#!/bin/sh\n# code-server on the Node its native modules were built for.\nexec %s %s "$@"\n' \
  "$NODE" "$cache/node_modules/code-server/out/node/entry.js" >"$bin"
chmod +x "$bin"
"$bin" --version >/dev/null || { log "installed, but $bin --version fails"; exit 1; }
touch "$cache/.installed"
log "installed in $((SECONDS - started)) s"
echo "$bin"
