/**
 * The resource views' way to the API server, as the proxy's ServiceAccount: JSON GETs of a path and
 * POSTs of SubjectAccessReviews. Answers come back as status and parsed body, whatever the status, so
 * the endpoint classifies them (404 absent, 403 the proxy's own RBAC, else unavailable); only a
 * network fault, a timeout or an oversized answer throws.
 */
import http from "node:http";
import https from "node:https";
import type * as k8s from "@kubernetes/client-node";

export interface ClusterAnswer {
  status: number;
  body: unknown;
}

export interface ClusterClient {
  get(path: string, query?: Record<string, string>, accept?: string): Promise<ClusterAnswer>;
  post(path: string, body: unknown): Promise<ClusterAnswer>;
}

/** Longest wait for one answer: past it the caller gets 503 rather than a hung request. */
const TIMEOUT_MS = 15_000;
/** Largest answer read (a cluster-wide list of pods is the largest). */
const MAX_BYTES = 64 * 1024 * 1024;

/** Connections kept to the API server: a namespace scan sends hundreds of small reviews. */
const MAX_SOCKETS = 16;
/**
 * An idle connection is closed after this, well before the API server drops it (90 s), so a request
 * is never sent on a connection the server is closing.
 */
const IDLE_MS = 30_000;

/**
 * A keep-alive agent with the TLS material client-node put in `opts`. client-node's own agent for
 * these options does not keep connections alive, so every review paid a TLS handshake: a cold
 * /api/cluster over 205 namespaces (1,032 reviews) took 3–8 s that way.
 */
function keepAliveAgent(url: URL, opts: https.RequestOptions): http.Agent {
  if (url.protocol !== "https:")
    return new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS, timeout: IDLE_MS });
  const { ca, cert, key, pfx, passphrase, rejectUnauthorized, servername } = opts;
  return new https.Agent({
    keepAlive: true,
    maxSockets: MAX_SOCKETS,
    timeout: IDLE_MS,
    ...{ ca, cert, key, pfx, passphrase, servername },
    ...(rejectUnauthorized !== undefined ? { rejectUnauthorized } : {}),
  });
}

export function kubeClusterClient(kc: k8s.KubeConfig): ClusterClient {
  // Made from the first request's TLS options (read once, as client-node's own agent cache does).
  let agent: http.Agent | undefined;
  async function call(
    method: string,
    path: string,
    query: Record<string, string>,
    accept: string,
    body?: unknown,
  ): Promise<ClusterAnswer> {
    const server = kc.getCurrentCluster()?.server;
    if (!server) throw new Error("the kubeconfig names no cluster server");
    const url = new URL(server.replace(/\/$/, "") + path);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const raw = body === undefined ? undefined : JSON.stringify(body);
    const opts: https.RequestOptions = {
      method,
      headers: {
        accept,
        ...(raw !== undefined
          ? { "content-type": "application/json", "content-length": Buffer.byteLength(raw) }
          : {}),
      },
      timeout: TIMEOUT_MS,
    };
    await kc.applyToHTTPSOptions(opts);
    opts.agent = agent ??= keepAliveAgent(url, opts);
    return new Promise<ClusterAnswer>((resolve, reject) => {
      const req = (url.protocol === "https:" ? https : http).request(url, opts, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_BYTES)
            req.destroy(new Error(`the answer to ${path} is larger than ${MAX_BYTES} bytes`));
          else chunks.push(c);
        });
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      });
      req.on("timeout", () =>
        req.destroy(new Error(`no answer to ${method} ${path} within ${TIMEOUT_MS} ms`)),
      );
      req.on("error", reject);
      req.end(raw);
    });
  }
  return {
    get: (path, query = {}, accept = "application/json") => call("GET", path, query, accept),
    post: (path, body) => call("POST", path, {}, "application/json", body),
  };
}
