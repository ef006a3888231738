#!/usr/bin/env bash
# Runs Portico locally (README: `npm run demo`): installs what it needs, starts the local cluster
# in network namespace `portico`, installs the Portico API and sample objects, and prints where to
# look. It stays up until `npm run demo -- down`.
#
# It runs the operator and the proxy, with two sample Workspaces (VS Code and JupyterLab) that become
# Ready and are reached through the proxy at their workspace URLs, from this machine's browser:
# http://{name}--{namespace}.localhost:18080/ (browsers and curl resolve *.localhost to 127.0.0.1).
# Both clone a sample project (scripts/demo-sample) from a git server inside the namespace, and VS Code
# opens that clone (scripts/demo-objects.ts says what the demo changes in the chart's classes).
# The proxy runs with --auth=none: the demo is for this machine only (the forward binds 127.0.0.1).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export PORTICO_NETNS="${PORTICO_NETNS:-portico}"
export PORTICO_CLUSTER_STATE="${PORTICO_CLUSTER_STATE:-$repo/.state/$PORTICO_NETNS}"
API_HOST_PORT="${PORTICO_API_PORT:-16443}"
PROXY_HOST_PORT="${PORTICO_DEMO_PORT:-18080}"
ECHO_HOST_PORT="${PORTICO_ECHO_PORT:-18081}"
BASE_DOMAIN=localhost
PROXY_IP=198.18.0.10 # inside the cluster's network namespace, like a Service's pod would be
GIT_IP=198.18.0.20   # the sample repository's git server, likewise

if [[ ${1:-} == down ]]; then exec bash e2e/cluster/cluster.sh down; fi

bash scripts/deps.sh
bash e2e/cluster/cluster.sh up >/dev/null
bin="$(cat "$PORTICO_CLUSTER_STATE/bin-dir")"
k() { bash e2e/cluster/cluster.sh exec -- kubectl "$@"; }

# The sample repository: scripts/demo-sample committed into a bare repository (made once per cluster, so
# a second run leaves the workspaces' clones up to date), served by a real git http-backend
# (e2e/fixtures/git-http.ts) inside the namespace. Nothing leaves the machine.
bare="$PORTICO_CLUSTER_STATE/git/sample.git"
if [[ ! -d $bare ]]; then
  g() { git -c user.name="Portico demo" -c user.email=demo@portico.invalid --git-dir="$bare" --work-tree=scripts/demo-sample "$@"; }
  git init -q --bare -b main "$bare"
  g add -A
  g commit -qm "Sample project for the Portico demo"
fi
bash e2e/cluster/cluster.sh run git -- node e2e/fixtures/git-http.ts "$(dirname "$bare")" "$GIT_IP" 8080

# A plain pod ('hello') behind a Service, and a GatewayRoute that serves it through the proxy at
# http://api.localhost:18080/hello/.
k apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: hello, namespace: default, labels: {app: hello}}
spec:
  containers:
  - {name: web, image: "portico.dev/test/http-echo:1", ports: [{containerPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: hello, namespace: default}
spec:
  selector: {app: hello}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: portico.dev/v1alpha1
kind: GatewayRoute
metadata: {name: hello, namespace: default}
spec:
  hosts: [api.localhost]
  rules:
  - matches: [{path: {type: PathPrefix, value: /hello}}]
    backends: [{service: {name: hello, port: 80}}]
    rewrite: {stripPrefix: true}
    healthCheck: {active: {path: /, interval: 5s}}
YAML

# The operator and the proxy, each as its own process group in the cluster's namespace, under its
# own identity. Workspace URLs carry the port the browser uses (the forward below).
# Node flags as operator/runtime.ts says (V8 favours memory over speed).
bash e2e/cluster/cluster.sh run operator -- node --optimize-for-size operator/main.ts \
  --kubeconfig="$PORTICO_CLUSTER_STATE/kubeconfig.operator" --health-host=127.0.0.1 --health-port=8081 \
  --lease-namespace=portico-system --base-domain="$BASE_DOMAIN" --url-port="$PROXY_HOST_PORT" \
  --pod-cidrs=198.18.0.0/16 --service-cidrs=198.19.0.0/16
# The console app the proxy serves at / (proxy/console/dist/, docs/console.md).
"$repo/node_modules/.bin/node" scripts/build-console.ts >/dev/null
# Node flags as proxy/runtime.ts says (a capped young generation: half the memory per idle WebSocket).
bash e2e/cluster/cluster.sh run proxy -- node --max-semi-space-size=4 proxy/main.ts \
  --kubeconfig="$PORTICO_CLUSTER_STATE/kubeconfig.proxy" --auth=none --base-domain="$BASE_DOMAIN" \
  --host="$PROXY_IP" --port=8080 --health-host=127.0.0.1 --health-port=8082 \
  --pod-cidrs=198.18.0.0/16 --service-cidrs=198.19.0.0/16
# The chart's default WorkspaceClasses (with the demo's changes) and the two sample workspaces.
"$repo/node_modules/.bin/node" scripts/demo-objects.ts "http://$GIT_IP:8080/sample.git" | k apply -f - >/dev/null
echo "waiting for workspaces demo and code to be Ready..." >&2
k wait --for=condition=Ready --timeout=180s workspace/demo workspace/code >/dev/null
k wait --for=jsonpath='{.status.podIP}' --timeout=60s pod/hello >/dev/null
ip="$(k get pod hello -o jsonpath='{.status.podIP}')"

# Reach the API server, the proxy and the sample pod from outside the namespace, on 127.0.0.1 only.
bash e2e/cluster/cluster.sh forward "$API_HOST_PORT" 127.0.0.1:6443
bash e2e/cluster/cluster.sh forward "$PROXY_HOST_PORT" "$PROXY_IP:8080"
bash e2e/cluster/cluster.sh forward "$ECHO_HOST_PORT" "$ip:8080"
url() { k get workspace "$1" -o jsonpath='{.status.url}'; }
demo_url="$(url demo)" code_url="$(url code)"
# The proxy routes them once its informers saw Ready: wait for it from outside, as a browser would.
for u in "${demo_url}api" "$code_url"; do
  for _ in $(seq 100); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$u") =~ ^(200|302)$ ]] && break
    sleep 0.2
  done
done
sed "s#https://127.0.0.1:6443#https://127.0.0.1:$API_HOST_PORT#" "$PORTICO_CLUSTER_STATE/kubeconfig" >"$PORTICO_CLUSTER_STATE/kubeconfig.host"
chmod 600 "$PORTICO_CLUSTER_STATE/kubeconfig.host"

cat <<MSG

Portico is up on a local cluster (network namespace $PORTICO_NETNS, Kubernetes $("$bin/kubectl" version --client -o json | sed -n 's/.*"gitVersion": "\(.*\)".*/\1/p' | head -1)).

  Console (your workspaces, live; new, start, stop, logs, terminal):   http://localhost:$PROXY_HOST_PORT/

  VS Code workspace 'code':        $code_url
  Jupyter workspace 'demo':        ${demo_url}tree/sample   (Debian's Jupyter Server with the classic notebook UI)
  Both through the Portico proxy (auth off: this machine only), from the operator's status.url.
  Both cloned the sample project (http://$GIT_IP:8080/sample.git, served in the namespace): its
  README.md says what to try.

  export KUBECONFIG=$PORTICO_CLUSTER_STATE/kubeconfig.host PATH=$bin:\$PATH
  kubectl get workspaces,workspaceclasses      # phase, URL, conditions
  kubectl get pods,pvc,svc,networkpolicies,virtualservices
  kubectl patch workspace demo --type merge -p '{"spec":{"running":false}}'   # stop; files are kept
  curl http://127.0.0.1:$ECHO_HOST_PORT/         # a plain pod ('hello') run as a real process on $ip:8080
  curl http://api.localhost:$PROXY_HOST_PORT/hello/   # the same pod through a GatewayRoute (kubectl get gatewayroutes)

  The self-service API (docs/api.md; here every caller is the demo user 'you'):
  curl http://localhost:$PROXY_HOST_PORT/api/v1/workspaces                  # list (REST)
  curl -X POST http://localhost:$PROXY_HOST_PORT/api/v1/workspaces/default/demo/stop   # 202; /start to wake it
  curl -H 'content-type: application/json' -d '{"query":"{ myCodeServers { id status url } }"}' http://localhost:$PROXY_HOST_PORT/graphql

  Logs: $PORTICO_CLUSTER_STATE/logs/operator.log, $PORTICO_CLUSTER_STATE/logs/proxy.log

Stop it all:  npm run demo -- down
MSG
