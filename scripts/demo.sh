#!/usr/bin/env bash
# Runs Portico locally (README: `npm run demo`): installs what it needs, starts the local cluster
# in network namespace `portico`, installs the Portico API and sample objects, and prints where to
# look. It stays up until `npm run demo -- down`.
#
# Today (foundation stage) this is the cluster with the Portico CRDs, the sample WorkspaceClasses,
# a sample Workspace and GatewayRoute as API objects, and a sample pod run as a real process.
# The operator and the proxy are not part of it yet, so the Workspace is not reconciled.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export PORTICO_NETNS="${PORTICO_NETNS:-portico}"
export PORTICO_CLUSTER_STATE="${PORTICO_CLUSTER_STATE:-$repo/.state/$PORTICO_NETNS}"
API_HOST_PORT="${PORTICO_API_PORT:-16443}"
ECHO_HOST_PORT="${PORTICO_DEMO_PORT:-18080}"

if [[ ${1:-} == down ]]; then exec bash e2e/cluster/cluster.sh down; fi

bash scripts/deps.sh
bash e2e/cluster/cluster.sh up >/dev/null
bin="$(cat "$PORTICO_CLUSTER_STATE/bin-dir")"
k() { bash e2e/cluster/cluster.sh exec -- kubectl "$@"; }

k apply -f crds/examples/ >/dev/null
k apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: hello, namespace: default, labels: {app: hello}}
spec:
  containers:
  - {name: web, image: "portico.dev/test/http-echo:1", ports: [{containerPort: 8080}]}
YAML
k wait --for=jsonpath='{.status.podIP}' --timeout=60s pod/hello >/dev/null
ip="$(k get pod hello -o jsonpath='{.status.podIP}')"

# Reach the API server and the sample pod from outside the namespace, on 127.0.0.1 only.
bash e2e/cluster/cluster.sh forward "$API_HOST_PORT" 127.0.0.1:6443
bash e2e/cluster/cluster.sh forward "$ECHO_HOST_PORT" "$ip:8080"
sed "s#https://127.0.0.1:6443#https://127.0.0.1:$API_HOST_PORT#" "$PORTICO_CLUSTER_STATE/kubeconfig" >"$PORTICO_CLUSTER_STATE/kubeconfig.host"
chmod 600 "$PORTICO_CLUSTER_STATE/kubeconfig.host"

cat <<MSG

Portico local cluster is up (network namespace $PORTICO_NETNS, Kubernetes $("$bin/kubectl" version --client -o json | sed -n 's/.*"gitVersion": "\(.*\)".*/\1/p' | head -1)).

  export KUBECONFIG=$PORTICO_CLUSTER_STATE/kubeconfig.host PATH=$bin:\$PATH
  kubectl get workspaceclasses,workspaces,gatewayroutes -A
  kubectl get pods -o wide          # 'hello' runs as a real process on $ip:8080
  curl http://127.0.0.1:$ECHO_HOST_PORT/   # ...forwarded here, so a browser on this machine reaches it

Not yet here: the operator and the proxy (their issues are open), so Workspaces are stored and
validated but not reconciled into IDEs yet.

Stop it all:  npm run demo -- down
MSG
