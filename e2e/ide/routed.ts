/** Waiting for the proxy to route a workspace, before a browser is sent there. */
import { request } from "node:http";
import { eventually } from "../lib/kube.ts";
import type { ProxyProcess } from "../lib/proxy.ts";

/** GET `path` on the proxy with Host `host` (default: the proxy's own address); resolves with the status. */
export function proxyStatus(px: ProxyProcess, path: string, host?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${px.url}${path}`,
      { headers: { host: host ?? `${px.address}:${px.port}` }, timeout: 5000 },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`GET ${path}: timed out`)));
    req.on("error", reject);
    req.end();
  });
}

/** Waits until the proxy answers `path` (host mode: with Host `host`) with 200 from the IDE. */
export async function routed(px: ProxyProcess, path: string, host?: string): Promise<void> {
  await eventually(
    `proxy routes ${host ?? ""}${path}`,
    async () => ((await proxyStatus(px, path, host)) === 200 ? true : undefined),
    30_000,
    100,
  );
}
