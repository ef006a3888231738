#!/usr/bin/env bash
# Installs what Portico's scripts need on a fresh machine of this kind: Debian packages (apt-get),
# the npm dependencies (npm ci; Node 24 comes in as the `node` devDependency), and the Go-built
# local cluster (cached outside the repo). Safe to run again: each step is skipped when done.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
log() { echo "[deps] $*" >&2; }

# Debian packages: iproute2 (network namespaces), openssl (cluster PKI), curl (health checks),
# git (workspace repositories), socat (demo port forwarding), procps (process checks),
# jupyter-server + python3-ipykernel (the real IDE behind the jupyterlab class in tests),
# python3-nbclassic (the notebook UI the browser tests drive), chromium (the browser tests' browser),
# nodejs build-essential pkg-config libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev (code-server's
# native modules built from source) and ripgrep (code-server's search binary) for e2e/ide/.
# nginx-light and wrk: the proxy benchmark's peer and load generator (npm run bench:proxy).
debs=(iproute2 openssl curl git socat procps ca-certificates jupyter-server python3-ipykernel
  python3-nbclassic chromium nodejs build-essential pkg-config libkrb5-dev libx11-dev libxkbfile-dev
  libsecret-1-dev ripgrep nginx-light wrk)
missing=()
for p in "${debs[@]}"; do dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if ((${#missing[@]})); then
  [[ $(id -u) -eq 0 ]] || { log "need root to apt-get install: ${missing[*]}"; exit 1; }
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { log "Go is required (this machine kind ships it at /usr/local/go)"; exit 1; }

# npm ci only when the lockfile changed since the last install.
stamp="node_modules/.portico-lock-sha"
want="$(sha256sum package-lock.json | cut -c1-64)"
if [[ ! -x node_modules/.bin/node || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi
node_modules/.bin/node --version | grep -q '^v24\.' || { log "node_modules/.bin/node is not Node 24"; exit 1; }

log "local cluster binaries (built once, cached in ${PORTICO_CACHE:-$HOME/.cache/portico})"
bash e2e/cluster/build.sh >/dev/null
log "kstatus checker for the GitOps tests (built once, cached there too)" && bash e2e/kstatus/build.sh >/dev/null
log "code-server for the vscode class in tests (installed once, cached there too)" && bash e2e/ide/install-code-server.sh >/dev/null
