/**
 * A KubeConfig whose API requests share one connection pool.
 *
 * client-node 2.0's `KubeConfig.applySecurityAuthentication` — called before every API request and
 * every watch — builds a new undici Agent each time (`createDispatcher`; only its https.Agent path,
 * used for WebSockets, is cached per cluster and user). Every request therefore opened its own TLS
 * connection with its own SecureContext, and those stayed open until their keep-alive ran out:
 * under `bench:operator` with 200 Workspaces the operator held 235 HTTP/2 sessions to the API
 * server when all were Ready, TLS handshakes were the largest share of its CPU time, and its RSS
 * was several times its JavaScript heap (docs/benchmarks.md). Here the first dispatcher built for a
 * cluster and user is kept and handed to every later request, as client-go keeps one transport per
 * rest config: requests multiplex over one HTTP/2 connection (undici opens more when one fills).
 *
 * Headers (a bearer token, re-read by client-node on every request) are still applied per request,
 * so token rotation works as before. The TLS material is taken once, as client-node's own agent
 * cache does: a client certificate rotated on disk is picked up on restart.
 */
import * as k8s from "@kubernetes/client-node";

type Dispatcher = NonNullable<ReturnType<k8s.RequestContext["getDispatcher"]>>;

export class PooledKubeConfig extends k8s.KubeConfig {
  /** One dispatcher per cluster and user (the key client-node's agent cache uses). */
  private readonly pools = new Map<string, Dispatcher>();

  override async applySecurityAuthentication(context: k8s.RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const fresh = context.getDispatcher();
    // No TLS options (plain http with skipTLSVerify): client-node leaves undici's global pool.
    if (!fresh) return;
    const key = JSON.stringify([this.getCurrentCluster()?.name ?? "", this.getCurrentUser()?.name ?? ""]);
    const pooled = this.pools.get(key);
    // The fresh Agent has opened nothing yet; dropping it costs nothing.
    if (pooled) context.setDispatcher(pooled);
    else this.pools.set(key, fresh);
  }

  /** Closes the pooled connections (in-flight requests finish first). */
  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.close()));
  }
}
