/**
 * Test-only (kept out of dist/): the whole proxy server for the unit tests, `--auth=none`, with
 * a given configuration and route table, listening on a free port of 127.0.0.1.
 */
import type { AddressInfo } from "node:net";
import type { Logger } from "../common/runtime/log.ts";
import type { WorkspaceApi } from "./api/types.ts";
import { Gate } from "./auth/gate.ts";
import type { ProxyConfig } from "./config.ts";
import { EventHub } from "./events.ts";
import { noopMetrics, type ProxyMetrics } from "./metrics.ts";
import type { RouteTable } from "./routing/table.ts";
import { createProxyServer, type ProxyServer, type ServerDeps } from "./server.ts";

export async function listenTestProxy(
  config: Readonly<ProxyConfig>,
  table: RouteTable,
  log: Logger,
  /**
   * Real metrics or a hub the test feeds, instead of the no-op twin and an empty hub; the API's
   * service layer (a test double of it) to serve the API.
   */
  parts: {
    metrics?: ProxyMetrics;
    events?: EventHub;
    api?: WorkspaceApi;
    activity?: ServerDeps["activity"];
  } = {},
): Promise<{ proxy: ProxyServer; port: number }> {
  const proxy = createProxyServer({
    config,
    gate: await Gate.create({
      config: config.identity,
      mode: "none",
      sessionCookie: config.sessionCookie,
      baseDomain: "portico.test",
      log,
    }),
    table,
    events: parts.events ?? new EventHub({ heartbeatMs: 60_000 }),
    metrics: parts.metrics ?? noopMetrics(),
    log,
    ...(parts.api ? { api: parts.api } : {}),
    ...(parts.activity ? { activity: parts.activity } : {}),
  });
  await new Promise<void>((r) => proxy.server.listen(0, "127.0.0.1", r));
  return { proxy, port: (proxy.server.address() as AddressInfo).port };
}
