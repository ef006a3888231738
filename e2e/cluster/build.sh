#!/usr/bin/env bash
# Builds the local control plane from Go modules, once, into a cache outside the repo:
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok, helm.
# Same idea as controller-runtime's envtest (plus kwok for fake nodes). Each tool gets its own
# wrapper module so their dependency graphs never have to agree. Re-running with the cache
# present is a no-op. Prints the bin directory on stdout (last line).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
# The contents only: a hash of `sha256sum FILES` would include their paths, so every clone
# (CI checks out into another folder) would build its own copy.
key="$(cat "$here/versions.env" "$here/build.sh" | sha256sum | cut -c1-12)"
cache="${PORTICO_CACHE:-$HOME/.cache/portico}"
out="$cache/cluster-$K8S_VERSION-$key"
bin="$out/bin"
want=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok helm)

have_all() { for b in "${want[@]}"; do [[ -x "$bin/$b" ]] || return 1; done; }
if have_all; then echo "$bin"; exit 0; fi

log() { echo "[build] $*" >&2; }
command -v go >/dev/null || { log "go is required on PATH (this machine kind ships it at /usr/local/go/bin)"; exit 1; }
export GOFLAGS="${GOFLAGS:-} -mod=mod" CGO_ENABLED=0
mkdir -p "$bin" "$out/src"
start=$(date +%s)

# new_module DIR MODULE@VERSION [replace lines...] — a throwaway main module that requires one tool.
new_module() {
  local dir="$1" req="$2"; shift 2
  rm -rf "$dir"; mkdir -p "$dir"
  printf 'module portico.local/build/%s\n\ngo 1.24.0\n' "$(basename "$dir")" >"$dir/go.mod"
  for r in "$@"; do echo "replace $r" >>"$dir/go.mod"; done
  (cd "$dir" && go get "$req" >&2)
}

build_k8s() {
  local dir="$out/src/kubernetes" v="${K8S_VERSION#v}"
  local minor; minor="$(cut -d. -f2 <<<"$v")"
  local modfile; modfile="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  # k8s.io/kubernetes replaces every staging module with ./staging/...; point each at its published v0.x.y.
  mapfile -t reps < <(sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$modfile" | while read -r m; do echo "$m => $m v0.${v#1.}"; done)
  new_module "$dir" "k8s.io/kubernetes@$K8S_VERSION" "${reps[@]}"
  local ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    [[ -x "$bin/$c" ]] && continue
    log "building $c $K8S_VERSION"
    (cd "$dir" && go build -trimpath -ldflags "$ld" -o "$bin/$c" "k8s.io/kubernetes/cmd/$c")
  done
}

build_etcd() {
  [[ -x "$bin/etcd" ]] && return
  local dir="$out/src/etcd"
  log "building etcd $ETCD_VERSION"
  new_module "$dir" "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  (cd "$dir" && go build -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3)
}

build_kwok() {
  [[ -x "$bin/kwok" ]] && return
  local dir="$out/src/kwok"
  log "building kwok $KWOK_VERSION"
  new_module "$dir" "sigs.k8s.io/kwok@$KWOK_VERSION"
  (cd "$dir" && go build -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}" -o "$bin/kwok" sigs.k8s.io/kwok/cmd/kwok)
}

build_helm() {
  [[ -x "$bin/helm" ]] && return
  local dir="$out/src/helm"
  log "building helm $HELM_VERSION"
  new_module "$dir" "helm.sh/helm/v3@$HELM_VERSION"
  (cd "$dir" && go build -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" -o "$bin/helm" helm.sh/helm/v3/cmd/helm)
}

build_etcd
build_kwok
build_helm
build_k8s
have_all || { log "some binaries are missing from $bin"; exit 1; }
log "built in $(( $(date +%s) - start ))s into $bin"
echo "$bin"
