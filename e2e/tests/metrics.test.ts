/**
 * The metrics dashboards and alerts rely on, from the real operator and the real proxy against the real
 * cluster:
 *  - every metric name the chart's Grafana dashboard and alert rules query (charts/portico/files/
 *    monitoring/) is exposed by one of the two components' /metrics (names from the queries by the
 *    small PromQL tokenizer in e2e/lib/promql.ts: its limits are listed there), and the process and
 *    Node.js metrics carry their standard names in both;
 *  - holding a workspace's status stream open leaves the request-latency histogram exactly as it was
 *    (every bucket, the count, and so its p99), on the status surface and on the workspace's own host;
 *    the stream is counted and its held time recorded in its own histogram instead.
 *
 * The stream is held until it has delivered three heartbeats (`--sse-heartbeat=2s`: some six seconds),
 * not a full minute: the assertion does not depend on how long it is held. A stream timed as a request
 * would add one observation to the histogram whatever its length; here none may be added.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { get, type IncomingMessage } from "node:http";
import { join } from "node:path";
import { before, test } from "node:test";
import { parse } from "yaml";
import { CHART } from "../lib/helm.ts";
import { eventually } from "../lib/kube.ts";
import { dashboardMetricNames, exposedNames, metricNames } from "../lib/promql.ts";
import { startProxy, type ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";
import { echoClass } from "../lib/workspaces.ts";

const suite = clusterSuite("metrics", {
  classes: { echo: echoClass },
  workspaces: [{ name: "ws", class: "echo" }],
});
let px: ProxyProcess;

before(async () => {
  await suite.ready();
  px = await startProxy({ name: "metrics-proxy", flags: ["--sse-heartbeat=2s"] });
  suite.onTeardown(() => px.stop());
});

const monitoring = (file: string) => readFileSync(join(CHART, "files/monitoring", file), "utf8");

/** Query → the metric names it reads: every dashboard query and every alert rule's expression. */
function queries(): Map<string, string[]> {
  const out = dashboardMetricNames(JSON.parse(monitoring("dashboard.json")));
  const alerts = parse(monitoring("alerts.yaml")) as {
    groups: { rules: { alert: string; expr: string }[] }[];
  };
  for (const r of alerts.groups.flatMap((g) => g.rules))
    out.set(`${r.alert}: ${r.expr}`, metricNames(r.expr));
  return out;
}

test("the dashboard and the alert rules query only series the operator and the proxy expose", async () => {
  const operator = exposedNames(await suite.op.metrics());
  const proxy = exposedNames(await px.metrics());
  for (const [who, names] of [
    ["operator", operator],
    ["proxy", proxy],
  ] as const) {
    for (const standard of [
      "process_cpu_seconds_total",
      "process_resident_memory_bytes",
      "nodejs_eventloop_lag_p99_seconds",
      "nodejs_heap_size_used_bytes",
    ])
      assert.ok(names.has(standard), `${who} exposes ${standard}`);
    const prefixed = [...names].filter((n) => /^portico_(operator|proxy)_(process|nodejs)_/.test(n));
    assert.deepEqual(prefixed, [], `${who}: no process metric under a prefixed name`);
  }
  const exposed = new Set([...operator, ...proxy]);
  const all = queries();
  assert.ok(all.size > 30, `dashboard queries and alert rules found: ${all.size}`);
  const missing = [...all].flatMap(([q, names]) =>
    names.filter((n) => !exposed.has(n)).map((n) => `${n} (in ${q.slice(0, 80)})`),
  );
  assert.deepEqual(missing, [], "every series a query names is exposed");
  // The tokenizer found names at all (an empty list per query would pass the check above vacuously).
  for (const [q, names] of all) assert.ok(names.length > 0, `no metric name found in ${q}`);
});

/** One histogram's cumulative buckets (`le` → count) and count, for samples whose labels include `labels`. */
interface Buckets {
  le: Map<string, number>;
  count: number;
}
function histogram(text: string, name: string, labels: Record<string, string> = {}): Buckets {
  const h: Buckets = { le: new Map(), count: 0 };
  for (const m of text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\} (\S+)$/gm)) {
    const have = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (!Object.entries(labels).every(([k, v]) => have[k] === v)) continue;
    if (m[1] === `${name}_bucket`) h.le.set(have.le!, (h.le.get(have.le!) ?? 0) + Number(m[3]));
    if (m[1] === `${name}_count`) h.count += Number(m[3]);
  }
  return h;
}

/** histogram_quantile as Prometheus computes it (linear within the bucket; +Inf: the highest finite bound). */
function quantile(q: number, h: Buckets): number {
  const bounds = [...h.le].map(([le, n]) => [Number(le), n] as const).sort((a, b) => a[0] - b[0]);
  const total = bounds.at(-1)?.[1] ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let [lower, below] = [0, 0];
  for (const [le, n] of bounds) {
    if (n >= rank) return le === Infinity ? lower : lower + (le - lower) * ((rank - below) / (n - below));
    [lower, below] = [le, n];
  }
  return lower;
}

/** A status stream held open: counts the heartbeats and status events it delivers. */
function holdStream(path: string, host: string): Promise<{ res: IncomingMessage; text: () => string }> {
  return new Promise((resolve, reject) => {
    get(`${px.url}${path}`, { headers: { host, accept: "text/event-stream" }, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      resolve({ res, text: () => text });
    }).on("error", reject);
  });
}

const LATENCY = "portico_proxy_request_duration_seconds";

test("a status stream held open leaves the request-latency histogram (and its p99) unchanged", async () => {
  const ns = suite.ns;
  const own = `${px.address}:${px.port}`;
  // Short answers on the same surface, so the histogram has something in it: an unknown workspace's
  // stream is a 404, an ordinary timed answer.
  for (let i = 0; i < 3; i++)
    assert.equal((await fetch(`${px.url}/api/v1/workspaces/${ns}/nope/events`)).status, 404);
  const before = await px.metrics();
  const streamsBefore = histogram(before, "portico_proxy_stream_duration_seconds", { kind: "sse" }).count;
  assert.ok(histogram(before, LATENCY, { kind: "api" }).count >= 3);

  const streams = [
    await holdStream(`/api/v1/workspaces/${ns}/ws/events`, own),
    await holdStream("/__portico/events", px.hostFor(ns, "ws")),
  ];
  for (const s of streams) assert.equal(s.res.statusCode, 200);
  for (const s of streams)
    await eventually(
      "three heartbeats on the held stream",
      async () =>
        (s.text().includes("event: status") && s.text().split(": heartbeat").length > 3) || undefined,
      60_000,
    );
  const during = await px.metrics();
  assert.match(during, /^portico_proxy_sse_streams_active 2$/m);
  for (const s of streams) s.res.destroy();
  // The dispatcher records a request when its response closes, before the hub's own close listener
  // (registered later) drops the open-streams gauge: once that reads 0, whatever was recorded is in.
  const after = await eventually(
    "both streams closed",
    async () => {
      const text = await px.metrics();
      return /^portico_proxy_sse_streams_active 0$/m.test(text) ? text : undefined;
    },
    10_000,
    100,
  );
  for (const labels of [{}, { kind: "api" }, { kind: "workspace" }] as Record<string, string>[]) {
    const [b, a] = [histogram(before, LATENCY, labels), histogram(after, LATENCY, labels)];
    assert.deepEqual(a, b, `latency histogram ${JSON.stringify(labels)}: buckets and count unchanged`);
    assert.equal(quantile(0.99, a), quantile(0.99, b), `p99 ${JSON.stringify(labels)} unchanged`);
  }
  const count = (text: string, route: string) =>
    Number(
      new RegExp(`^portico_proxy_requests_total\\{route="${route}",code="200"\\} (\\d+)$`, "m").exec(
        text,
      )?.[1] ?? 0,
    );
  assert.equal(count(after, "api") - count(before, "api"), 1, "the status surface's stream is counted once");
  assert.equal(
    count(after, `${ns}/ws`) - count(before, `${ns}/ws`),
    1,
    "the workspace's own stream is counted once",
  );
  const held = histogram(after, "portico_proxy_stream_duration_seconds", { kind: "sse" });
  assert.equal(held.count - streamsBefore, 2, "both streams' held time is recorded in their own histogram");
});
