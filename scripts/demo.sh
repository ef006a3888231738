#!/usr/bin/env bash
# Runs Portico locally (README: `npm run demo`): installs what it needs, starts the local cluster
# in network namespace `portico`, installs the Portico API and sample objects, and prints where to
# look. It stays up until `npm run demo -- down`.
#
# It runs the operator with a sample JupyterLab Workspace that becomes Ready, reachable from this
# machine's browser. The proxy is not part of it yet (its issue is open), so the IDE is reached
# through a port forward to its pod rather than through a workspace URL.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export PORTICO_NETNS="${PORTICO_NETNS:-portico}"
export PORTICO_CLUSTER_STATE="${PORTICO_CLUSTER_STATE:-$repo/.state/$PORTICO_NETNS}"
API_HOST_PORT="${PORTICO_API_PORT:-16443}"
ECHO_HOST_PORT="${PORTICO_DEMO_PORT:-18080}"
JUPYTER_HOST_PORT="${PORTICO_JUPYTER_PORT:-18888}"

if [[ ${1:-} == down ]]; then exec bash e2e/cluster/cluster.sh down; fi

bash scripts/deps.sh
bash e2e/cluster/cluster.sh up >/dev/null
bin="$(cat "$PORTICO_CLUSTER_STATE/bin-dir")"
k() { bash e2e/cluster/cluster.sh exec -- kubectl "$@"; }

k apply -f crds/examples/workspaceclass-vscode.yaml -f crds/examples/workspaceclass-jupyterlab.yaml \
  -f crds/examples/workspaceclass-rstudio.yaml -f crds/examples/gatewayroute.yaml >/dev/null
k apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: hello, namespace: default, labels: {app: hello}}
spec:
  containers:
  - {name: web, image: "portico.dev/test/http-echo:1", ports: [{containerPort: 8080}]}
YAML

# The operator, as its own process group in the cluster's namespace, under its own identity.
bash e2e/cluster/cluster.sh run operator -- node operator/main.ts \
  --kubeconfig="$PORTICO_CLUSTER_STATE/kubeconfig.operator" --health-host=127.0.0.1 --health-port=8081 \
  --lease-namespace=default
k apply -f e2e/fixtures/demo-workspace.yaml >/dev/null
echo "waiting for workspace demo to be Ready..." >&2
k wait --for=condition=Ready --timeout=120s workspace/demo >/dev/null
ws_ip="$(k get pod ws-demo -o jsonpath='{.status.podIP}')"
k wait --for=jsonpath='{.status.podIP}' --timeout=60s pod/hello >/dev/null
ip="$(k get pod hello -o jsonpath='{.status.podIP}')"

# Reach the API server and the sample pod from outside the namespace, on 127.0.0.1 only.
bash e2e/cluster/cluster.sh forward "$API_HOST_PORT" 127.0.0.1:6443
bash e2e/cluster/cluster.sh forward "$ECHO_HOST_PORT" "$ip:8080"
bash e2e/cluster/cluster.sh forward "$JUPYTER_HOST_PORT" "$ws_ip:8888"
sed "s#https://127.0.0.1:6443#https://127.0.0.1:$API_HOST_PORT#" "$PORTICO_CLUSTER_STATE/kubeconfig" >"$PORTICO_CLUSTER_STATE/kubeconfig.host"
chmod 600 "$PORTICO_CLUSTER_STATE/kubeconfig.host"

cat <<MSG

Portico is up on a local cluster (network namespace $PORTICO_NETNS, Kubernetes $("$bin/kubectl" version --client -o json | sed -n 's/.*"gitVersion": "\(.*\)".*/\1/p' | head -1)).

  JupyterLab workspace 'demo', reconciled by the operator:  http://127.0.0.1:$JUPYTER_HOST_PORT/tree
  (forwarded to its pod at $ws_ip:8888; the proxy and its workspace URLs come with the proxy issue)

  export KUBECONFIG=$PORTICO_CLUSTER_STATE/kubeconfig.host PATH=$bin:\$PATH
  kubectl get workspaces,workspaceclasses      # phase, URL, conditions
  kubectl get pods,pvc,svc,networkpolicies,virtualservices
  kubectl patch workspace demo --type merge -p '{"spec":{"running":false}}'   # stop; files are kept
  curl http://127.0.0.1:$ECHO_HOST_PORT/         # a plain pod ('hello') run as a real process on $ip:8080

  Operator: logs in $PORTICO_CLUSTER_STATE/logs/operator.log

Stop it all:  npm run demo -- down
MSG
