#!/usr/bin/env bash
# A real, local Kubernetes control plane in a network namespace, for tests and the demo.
#
#   cluster.sh up        build (cached) and start etcd, kube-apiserver, kube-controller-manager,
#                        kube-scheduler, kwok and the pod runner inside netns $PORTICO_NETNS;
#                        install the CRDs; register a kwok node. Idempotent: an existing healthy
#                        cluster is left as it is.
#   cluster.sh down      stop everything (whole process groups, then anything left in the netns),
#                        delete the netns and the state directory. Safe to run twice or after a crash.
#   cluster.sh exec -- CMD...   run CMD inside the netns with KUBECONFIG etc. exported.
#   cluster.sh env       print the environment exports for this cluster.
#   cluster.sh status    say whether it is up.
#
# Addresses: pods get IPs in 198.18.128.0/17 (from the pod runner), infrastructure uses 198.18.0.0/24, services
# 198.19.0.0/16. 198.18.0.0/16 is routed to the namespace's own loopback, so these addresses are
# accepted by Endpoints/EndpointSlices (loopback IPs are not) and nothing ever leaves the machine.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

NS="${PORTICO_NETNS:-portico}"
STATE="${PORTICO_CLUSTER_STATE:-$repo/.state/$NS}"
API_PORT=6443
ETCD_PORT=2379
APISERVER_IP=198.18.0.1
NODE_IP=198.18.0.10
KUBELET_PORT=10250 # kwok's server: the node's kubelet endpoint (pods/log, pods/exec)
POD_IPS=198.18.128.1-198.18.255.254 # handed out by the pod runner, this node's kubelet
SERVICE_CIDR=198.19.0.0/16
NODE_NAME="${PORTICO_NODE_NAME:-kwok-node-0}"
NODE="$repo/node_modules/.bin/node"

log() { echo "[cluster:$NS] $*" >&2; }
die() { log "error: $*"; exit 1; }
in_ns() { ip netns exec "$NS" "$@"; }

need_root() { [[ $(id -u) -eq 0 ]] || die "needs root (network namespaces): run as root"; }

# start NAME CMD... — run CMD in the netns as the leader of its own process group; log to $STATE/logs.
start() {
  local name="$1"; shift
  start_on_host "$name" ip netns exec "$NS" "$@"
}

# start_on_host NAME CMD... — the same, but in the host's own network namespace (port forwards).
start_on_host() {
  local name="$1"; shift
  mkdir -p "$STATE/logs" "$STATE/pids"
  # setsid without job control does not fork, so $! is the process and its group id.
  setsid "$@" >>"$STATE/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/pids/$name.pid"
}

alive() { local f="$STATE/pids/$1.pid"; [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null; }

# wait_for WHAT SECONDS CMD... — poll until CMD succeeds; on timeout show the relevant log.
wait_for() {
  local what="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then
      log "timed out after ${secs}s waiting for $what"
      for l in "$STATE"/logs/*.log; do echo "--- tail $l" >&2; tail -n 15 "$l" >&2; done
      return 1
    fi
    sleep 0.3
  done
}

kubectl_() { in_ns "$BIN/kubectl" --kubeconfig "$STATE/kubeconfig" "$@"; }

make_pki() {
  local pki="$STATE/pki"
  [[ -f $pki/ca.crt ]] && return
  mkdir -p "$pki"
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=portico-local-ca" \
      -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout apiserver.key -out apiserver.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,IP:%s,IP:198.19.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n' \
      "$APISERVER_IP" >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
      -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    # kwok's server certificate: the API server checks it as a kubelet's (--kubelet-certificate-authority).
    # An EC key: made in milliseconds, where an RSA one costs start-up a third of a second.
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$NODE_NAME" \
      -keyout kubelet.key -out kubelet.csr 2>/dev/null
    printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$NODE_IP" >kubelet.ext
    openssl x509 -req -in kubelet.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
      -extfile kubelet.ext -out kubelet.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    # Static bearer tokens: an admin (system:masters) and one per control-plane component.
    for who in admin controller-manager scheduler kwok runner; do
      openssl rand -hex 24 >"token.$who"
    done
    {
      echo "$(cat token.admin),portico-admin,portico-admin,\"system:masters\""
      echo "$(cat token.controller-manager),system:kube-controller-manager,system:kube-controller-manager"
      echo "$(cat token.scheduler),system:kube-scheduler,system:kube-scheduler"
      echo "$(cat token.kwok),portico-kwok,portico-kwok,\"system:masters\""
      echo "$(cat token.runner),portico-runner,portico-runner,\"system:masters\""
    } >tokens.csv
    chmod 600 ./*.key token.* tokens.csv
  )
}

# kubeconfig FILE TOKEN — a kubeconfig for https://127.0.0.1:6443 (valid inside the netns).
write_kubeconfig() {
  local file="$1" token="$2" server="${3:-https://127.0.0.1:$API_PORT}"
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: portico-local
  cluster:
    server: $server
    certificate-authority: $STATE/pki/ca.crt
users:
- name: $(basename "$file")
  user:
    token: $token
contexts:
- name: portico-local
  context: {cluster: portico-local, user: $(basename "$file")}
current-context: portico-local
EOF
  chmod 600 "$file"
}

write_audit_policy() {
  # Writes only (who changed what), so tests can count an operator's API writes at the server.
  cat >"$STATE/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  verbs: ["create", "update", "patch", "delete", "deletecollection"]
- level: None
EOF
}

start_etcd() {
  start etcd "$BIN/etcd" --name local --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster local=http://127.0.0.1:2380 --unsafe-no-fsync --log-level warn
  wait_for etcd 60 in_ns curl -fsS "http://127.0.0.1:$ETCD_PORT/health"
}

start_apiserver() {
  local pki="$STATE/pki"
  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 0.0.0.0 --secure-port "$API_PORT" --advertise-address "$APISERVER_IP" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" --token-auth-file "$pki/tokens.csv" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --authorization-mode RBAC \
    --kubelet-certificate-authority "$pki/ca.crt" --kubelet-preferred-address-types InternalIP \
    --enable-admission-plugins ValidatingAdmissionPolicy \
    --audit-policy-file "$STATE/audit-policy.yaml" --audit-log-path "$STATE/audit.log" \
    --audit-log-format json --audit-log-mode blocking \
    --storage-media-type application/json --v 1
}

wait_apiserver() {
  local pki="$STATE/pki"
  wait_for kube-apiserver 120 in_ns curl -fsS --cacert "$pki/ca.crt" \
    -H "Authorization: Bearer $(cat "$pki/token.admin")" "https://127.0.0.1:$API_PORT/readyz"
}

up() {
  need_root
  if status >/dev/null 2>&1; then log "already up"; print_env; return; fi
  # A half-started or crashed cluster is cleaned up first, so up always starts from nothing.
  down >/dev/null 2>&1 || true
  local t0=$SECONDS
  BIN="$(bash "$here/build.sh" | tail -n 1)"
  [[ -x $NODE ]] || die "node_modules is missing: run npm ci first"
  mkdir -p "$STATE"
  echo "$BIN" >"$STATE/bin-dir"

  ip netns add "$NS"
  in_ns ip link set lo up
  in_ns ip route add local 198.18.0.0/16 dev lo
  in_ns ip route add local "$SERVICE_CIDR" dev lo

  make_pki
  write_audit_policy
  local pki="$STATE/pki"
  write_kubeconfig "$STATE/kubeconfig" "$(cat "$pki/token.admin")"
  write_kubeconfig "$STATE/kubeconfig.controller-manager" "$(cat "$pki/token.controller-manager")"
  write_kubeconfig "$STATE/kubeconfig.scheduler" "$(cat "$pki/token.scheduler")"
  write_kubeconfig "$STATE/kubeconfig.kwok" "$(cat "$pki/token.kwok")"
  write_kubeconfig "$STATE/kubeconfig.runner" "$(cat "$pki/token.runner")"

  start_etcd

  start_apiserver
  wait_apiserver

  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$STATE/kubeconfig.controller-manager" \
    --authentication-kubeconfig "$STATE/kubeconfig.controller-manager" \
    --authorization-kubeconfig "$STATE/kubeconfig.controller-manager" \
    --bind-address 127.0.0.1 --secure-port 10257 --leader-elect=false \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --use-service-account-credentials=true --controllers '*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller'
  start kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig "$STATE/kubeconfig.scheduler" \
    --authentication-kubeconfig "$STATE/kubeconfig.scheduler" \
    --authorization-kubeconfig "$STATE/kubeconfig.scheduler" \
    --bind-address 127.0.0.1 --secure-port 10259 --leader-elect=false
  # The API's CRDs (Portico's, a minimal Istio VirtualService), and kwok's Logs and Exec ones
  # before kwok starts: it watches them from its start.
  kubectl_ apply --server-side -f "$repo/crds/" -f "$repo/e2e/fixtures/istio-virtualservice-crd.yaml" \
    -f "$repo/e2e/runner/kwok-crds.yaml" >/dev/null
  # kwok keeps the node alive (heartbeats through a node Lease, as kubelets do: its status-only
  # heartbeat comes about once a minute, past the node controller's grace period, and the node
  # would flap NotReady); pods are the runner's (see kwok-stages.yaml). Its server is the node's
  # kubelet endpoint (the node's InternalIP and daemonEndpoints port, over TLS): the API server
  # sends it pods/log and pods/exec, answered from the Logs and Exec objects the runner writes.
  # A command run by `kubectl exec` inherits kwok's environment: only PATH and HOME, as the
  # runner gives its pods' processes, never whatever the shell that started the cluster held.
  start kwok env -i PATH="$PATH" HOME="${HOME:-/root}" \
    "$BIN/kwok" --kubeconfig "$STATE/kubeconfig.kwok" --config "$repo/e2e/runner/kwok-stages.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-ip "$NODE_IP" --node-port "$KUBELET_PORT" --server-address "$NODE_IP:$KUBELET_PORT" \
    --tls-cert-file "$pki/kubelet.crt" --tls-private-key-file "$pki/kubelet.key" --enable-crds Logs,Exec \
    --node-lease-duration-seconds 40

  # The default StorageClass and the kwok node; the CRDs applied above, established.
  wait_for "default namespace" 60 kubectl_ get namespace default
  kubectl_ apply -f - >/dev/null <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local-dir
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: portico.dev/local-dir
reclaimPolicy: Delete
volumeBindingMode: Immediate
---
apiVersion: v1
kind: Node
metadata:
  name: $NODE_NAME
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {kubernetes.io/hostname: $NODE_NAME, kubernetes.io/os: linux, kubernetes.io/arch: amd64, type: kwok}
status:
  allocatable: {cpu: "64", memory: 256Gi, pods: "1000", ephemeral-storage: 1Ti}
  capacity: {cpu: "64", memory: 256Gi, pods: "1000", ephemeral-storage: 1Ti}
  nodeInfo: {kubeletVersion: fake, kubeProxyVersion: fake, architecture: amd64, operatingSystem: linux}
EOF
  kubectl_ wait --for condition=Established --timeout 60s crd --all >/dev/null
  wait_for "node $NODE_NAME Ready" 60 kubectl_ wait --for condition=Ready --timeout 2s "node/$NODE_NAME"
  wait_for "default service account" 60 kubectl_ get serviceaccount default

  portico_identities

  start runner "$NODE" "$repo/e2e/runner/main.ts" --kubeconfig "$STATE/kubeconfig.runner" \
    --node "$NODE_NAME" --images "${PORTICO_RUNNER_IMAGES:-$repo/e2e/runner/images.yaml}" \
    --volumes "$STATE/volumes" --state "$STATE/runner" --node-ip "$NODE_IP" --pod-ips "$POD_IPS"
  wait_for "pod runner" 60 test -f "$STATE/runner/ready"
  log "up in $((SECONDS - t0))s (binaries: $BIN)"
  print_env
}

# The operator and the proxy run as the Helm chart's ServiceAccounts, under exactly the chart's RBAC
# (release "portico" in namespace portico-system, rendered by the real helm): what the e2e suites
# pass with is what a cluster installed from the chart grants. Their kubeconfigs carry tokens for
# those ServiceAccounts from the TokenRequest API. The chart's ValidatingAdmissionPolicies (Workspace
# owners, workspace pods and Services only from the operator) are applied too, so every suite runs
# under them; so are the session-keys hook's ServiceAccount and Role (not its Job: no proxy image here),
# for the test that runs `portico-proxy session-keys` as that ServiceAccount. The API's namespace is a
# template there (its rules then span namespaces, as a ClusterRole): each suite's proxy maps users to
# namespaces of its own. The console's resource views are on, Secrets revealable
# (e2e/tests/console-resources.test.ts runs under exactly those rules).
portico_identities() {
  kubectl_ create namespace portico-system >/dev/null
  "$BIN/helm" template portico "$repo/charts/portico" --namespace portico-system \
    --kube-version "$("$BIN/kubectl" version --client -o json | sed -n 's/.*"gitVersion": "\(.*\)".*/\1/p' | head -1)" \
    --set 'api.namespace=ws-{user}' \
    --set console.resources.enabled=true --set console.resources.revealSecrets=true \
    --show-only templates/serviceaccounts.yaml --show-only templates/rbac.yaml \
    --show-only templates/admission-policies.yaml --show-only templates/session-keys-hook.yaml |
    /usr/bin/python3 -c 'import re, sys; docs = re.split(r"(?m)^---[ \t]*$", sys.stdin.read())
print("\n---\n".join(d for d in docs if not re.search(r"(?m)^kind: Job$", d)))' |
    kubectl_ apply -f - >/dev/null
  # The API server loads policies asynchronously: no suite starts before they are enforced.
  wait_for "admission policies enforced" 60 policies_enforced
  local who
  for who in operator proxy; do
    write_kubeconfig "$STATE/kubeconfig.$who" \
      "$(kubectl_ -n portico-system create token "portico-$who" --duration 168h)"
  done
}

# True once the chart's pod policy refuses a pod carrying a workspace's label (as a dry run, as admin).
policies_enforced() {
  local out
  out="$(kubectl_ -n default run policy-probe --image=busybox --labels=portico.dev/workspace=probe \
    --dry-run=server -o name 2>&1)" || true
  [[ $out == *"portico-workspace-children"* ]]
}

print_env() {
  echo "export PORTICO_NETNS=$NS"
  echo "export PORTICO_CLUSTER_STATE=$STATE"
  echo "export KUBECONFIG=$STATE/kubeconfig"
}

status() {
  [[ -e /run/netns/$NS ]] || { echo "down"; return 1; }
  for c in etcd kube-apiserver kube-controller-manager kube-scheduler kwok runner; do
    alive "$c" || { echo "degraded: $c is not running"; return 1; }
  done
  echo "up"
}

# forward HOST_PORT IP:PORT — expose an address inside the namespace on the host's 127.0.0.1,
# for a browser or kubectl outside the namespace. Every connection is relayed by a socat that
# runs inside the namespace; nothing listens beyond 127.0.0.1.
forward() {
  local host_port="$1" target="$2"
  start_on_host "forward-$host_port" socat "TCP-LISTEN:$host_port,bind=127.0.0.1,reuseaddr,fork" \
    "EXEC:ip netns exec $NS socat STDIO TCP\:${target//:/\\:}"
  wait_for "forward 127.0.0.1:$host_port" 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$host_port"
}

# True while a process group has a live member. Exited members are not counted: they stay zombies
# until the machine's init reaps them, which here can take seconds.
group_alive() { ps -o stat= -g "$1" 2>/dev/null | grep -qv '^Z'; }

# Stops one component's whole process group: TERM, a grace period, then KILL.
stop_group() {
  local f="$1" pid
  pid="$(cat "$f")"
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do group_alive "$pid" || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$f"
}

down() {
  need_root
  # Stop in reverse order of dependency: runner first, so it can stop its pod processes itself.
  for c in runner kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    [[ -f $STATE/pids/$c.pid ]] && stop_group "$STATE/pids/$c.pid"
  done
  # Anything else a script registered here (the demo's port forwards, for one).
  for f in "$STATE"/pids/*.pid; do [[ -f $f ]] && stop_group "$f"; done
  if [[ -e /run/netns/$NS ]]; then
    # Anything still alive in the namespace (a pod process that escaped its group, a test's child):
    # the namespace is ours alone, so everything in it goes.
    local pids; pids="$(ip netns pids "$NS" 2>/dev/null || true)"
    if [[ -n $pids ]]; then
      # shellcheck disable=SC2086
      kill -KILL $pids 2>/dev/null || true
      sleep 0.2
    fi
    ip netns del "$NS"
  fi
  if [[ -z ${PORTICO_KEEP_STATE:-} ]]; then rm -rf "$STATE"; fi
  log "down"
}

exec_in() {
  [[ ${1:-} == "--" ]] && shift
  [[ -e /run/netns/$NS ]] || die "cluster $NS is not up: run $0 up"
  export PORTICO_NETNS="$NS" PORTICO_CLUSTER_STATE="$STATE" KUBECONFIG="$STATE/kubeconfig"
  export PATH="$(cat "$STATE/bin-dir"):$repo/node_modules/.bin:$PATH"
  exec ip netns exec "$NS" "$@"
}

# restart COMPONENT... — stop and start components of a running cluster (etcd, kube-apiserver),
# keeping their data: for tests of what survives a control-plane restart.
restart() {
  BIN="$(cat "$STATE/bin-dir")"
  for c in "$@"; do [[ -f $STATE/pids/$c.pid ]] && stop_group "$STATE/pids/$c.pid"; done
  for c in "$@"; do
    case "$c" in
      etcd) start_etcd ;;
      kube-apiserver) start_apiserver; wait_apiserver ;;
      *) die "restart supports etcd and kube-apiserver, not $c" ;;
    esac
  done
  log "restarted $*"
}

# run NAME -- CMD... — start CMD in the namespace as a registered process group (logs in
# $STATE/logs/NAME.log), stopped by `down` like the control plane.
run_component() {
  local name="$1"; shift
  [[ ${1:-} == "--" ]] && shift
  [[ -e /run/netns/$NS ]] || die "cluster $NS is not up: run $0 up"
  [[ -f $STATE/pids/$name.pid ]] && stop_group "$STATE/pids/$name.pid"
  export PORTICO_NETNS="$NS" PORTICO_CLUSTER_STATE="$STATE"
  export PATH="$(cat "$STATE/bin-dir"):$repo/node_modules/.bin:$PATH"
  start "$name" "$@"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  exec) shift; exec_in "$@" ;;
  restart) shift; restart "$@" ;;
  run) shift; run_component "$@" ;;
  forward) shift; BIN="$(cat "$STATE/bin-dir")"; forward "$@" ;;
  env) print_env ;;
  status) status ;;
  *) echo "usage: $0 up|down|status|env|exec -- CMD...|forward HOST_PORT IP:PORT|restart COMPONENT...|run NAME -- CMD..." >&2; exit 2 ;;
esac
