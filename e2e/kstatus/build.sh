#!/usr/bin/env bash
# Builds e2e/kstatus (kstatus from sigs.k8s.io/cli-utils, as Flux reads health) once, into
#   ${PORTICO_CACHE:-$HOME/.cache/portico}/kstatus-<hash of go.mod, go.sum, main.go>/kstatus
# and prints that path. Needs the Go module proxy, so it runs outside the cluster's network
# namespace (scripts/deps.sh calls it); tests look the binary up at the same path (kstatus.ts).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
key="$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" | sha256sum | cut -c1-12)"
out="${PORTICO_CACHE:-$HOME/.cache/portico}/kstatus-$key"
if [[ -x "$out/kstatus" ]]; then echo "$out/kstatus"; exit 0; fi
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "[kstatus] go is required (this machine kind ships it at /usr/local/go/bin)" >&2; exit 1; }
mkdir -p "$out"
echo "[kstatus] building $out/kstatus" >&2
# go.sum pins every module; -mod=readonly fails instead of changing go.mod. Built to a temporary name
# and renamed, so an interrupted build never leaves a half-written binary at the cached path.
(cd "$here" && CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "-s -w" -o "$out/kstatus.tmp" .)
mv "$out/kstatus.tmp" "$out/kstatus"
echo "$out/kstatus"
