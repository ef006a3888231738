/**
 * The `http-proxy` row of bench:proxy (its own process, started by `startHttpProxy` in proxy-peers.ts):
 * the package undici replaced on Portico's data path (http-proxy 1.18, the one first chosen), driving
 * the same backend through the same route table. The route is Portico's own: `toRoute` of the real
 * Workspace and its real EndpointSlice (proxy/routing/from-cluster.ts) in a `RouteTable`
 * (proxy/routing/table.ts), matched per request on Host and target exactly as Portico's proxy does.
 *
 * What it leaves out, so the comparison favours http-proxy: Portico's other passes (method list,
 * limits, identity, origin, forwarded and class headers, response passes). What differs is then the
 * forwarding engine: `http.request` with a keep-alive agent under http-proxy, against undici's pool.
 *
 *   node e2e/bench/http-proxy-peer.ts '{"ip":…,"port":…,"baseDomain":…,"workspace":{…},"slices":[…]}'
 */
import { createServer, Agent } from "node:http";
import httpProxy from "http-proxy";
import type { V1EndpointSlice } from "@kubernetes/client-node";
import type { Workspace } from "../../crds/types.ts";
import { toRoute } from "../../proxy/routing/from-cluster.ts";
import { hostName, parseTarget } from "../../proxy/routing/path.ts";
import { RouteTable } from "../../proxy/routing/table.ts";

const args = JSON.parse(process.argv[2] ?? "{}") as {
  ip: string;
  port: number;
  baseDomain: string;
  workspace: Workspace;
  slices: V1EndpointSlice[];
};
const routing = {
  routing: "host" as const,
  baseDomain: args.baseDomain,
  serviceFallback: false,
  clusterDomain: "",
};
const table = new RouteTable(routing);
const route = toRoute(args.workspace, undefined, args.slices, routing);
if (route.state !== "ready" || !route.upstream) throw new Error(`the workspace's route is ${route.state}`);
table.upsert(route);

// Keep-alive to the backend, as undici's pool keeps; without it http-proxy opens a connection per request.
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const proxy = httpProxy.createProxyServer({ agent, xfwd: true, ws: true });
proxy.on("error", (_err, _req, res) => {
  if ("writeHead" in res && !res.headersSent) res.writeHead(502).end();
  else res.destroy();
});

/** The upstream of a request, through the same table match as Portico's, or undefined (404). */
function upstreamOf(host: string | undefined, url: string | undefined): string | undefined {
  const name = hostName(host);
  if (!name) return undefined;
  let target;
  try {
    target = parseTarget(url ?? "");
  } catch {
    return undefined;
  }
  const m = table.match(name, target);
  if (m?.kind !== "route" || !m.route.upstream) return undefined;
  return `http://${m.route.upstream.host}:${m.route.upstream.port}`;
}

const server = createServer((req, res) => {
  const upstream = upstreamOf(req.headers.host, req.url);
  if (!upstream) return void res.writeHead(404).end();
  proxy.web(req, res, { target: upstream });
});
server.on("upgrade", (req, socket, head) => {
  socket.on("error", () => socket.destroy());
  const upstream = upstreamOf(req.headers.host, req.url);
  if (!upstream) return void socket.end("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
  proxy.ws(req, socket, head, { target: upstream });
});
server.keepAliveTimeout = 120_000;
server.listen(args.port, args.ip);
process.on("SIGTERM", () => {
  server.close();
  server.closeAllConnections();
  agent.destroy();
  process.exit(0);
});
