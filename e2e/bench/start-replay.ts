/**
 * The proxy's added time on an IDE's page load, at the HTTP level (`npm run bench:start`, start.ts):
 * the GET requests Chromium made for the page (its document, scripts, styles, fonts, API reads),
 * fetched again one after another, directly at the pod and through the proxy, in alternating passes.
 * A browser's load of these IDEs is mostly its own parsing and running of megabytes of JavaScript,
 * whose noise on a shared machine (seconds) hides the proxy's milliseconds; this isolates them.
 * Sequential and uncompressed, so it is an upper bound: the browser fetches six at a time, gzipped.
 */
import { Agent, request } from "node:http";

/** Fetches every URL once, in order, over one keep-alive agent (as a browser reuses connections); ms. */
async function pass(
  urls: readonly string[],
  target: { url: string; host?: string } | undefined,
): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const t0 = performance.now();
  try {
    for (const u of urls) {
      const url = new URL(u);
      const to = target ? new URL(url.pathname + url.search, target.url) : url;
      await new Promise<void>((resolve, reject) => {
        const req = request(
          to,
          {
            agent,
            headers: {
              ...(target?.host ? { host: target.host } : {}),
              // Not compressed: the IDE compresses on the fly (code-server: its 3 MB workbench.js per
              // request, hundreds of ms of noisy CPU the proxy does not add to); uncompressed, every
              // byte passes through the proxy, so this is its upper bound.
              "accept-encoding": "identity",
              accept: "*/*",
            },
            timeout: 30_000,
          },
          (res) => {
            res.resume();
            res.on("end", resolve);
            res.on("error", reject);
          },
        );
        req.on("timeout", () => req.destroy(new Error(`GET ${to.href}: timed out`)));
        req.on("error", reject);
        req.end();
      });
    }
    return performance.now() - t0;
  } finally {
    agent.destroy();
  }
}

/**
 * `urls` (recorded at the pod's address) fetched `pairs` times directly and through the proxy
 * (`proxy.url` with Host `proxy.host`), ABBA…; returns the mean ms per pass of each.
 */
export async function replay(
  urls: readonly string[],
  proxy: { url: string; host: string },
  pairs: number,
): Promise<{ direct: number; proxy: number; requests: number }> {
  const t = { direct: [] as number[], proxy: [] as number[] };
  for (let i = 0; i < pairs; i++) {
    const order = i % 2 === 0 ? (["direct", "proxy"] as const) : (["proxy", "direct"] as const);
    for (const how of order) t[how].push(await pass(urls, how === "proxy" ? proxy : undefined));
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return { direct: mean(t.direct), proxy: mean(t.proxy), requests: urls.length };
}
