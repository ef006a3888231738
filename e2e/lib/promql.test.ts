import assert from "node:assert/strict";
import { test } from "node:test";
import { dashboardMetricNames, exposedNames, metricNames } from "./promql.ts";

test("metric names: functions, aggregations, grouping labels, matchers, ranges and numbers are not names", () => {
  assert.deepEqual(
    metricNames(
      'histogram_quantile(0.99, sum by (le, kind) (rate(portico_proxy_request_duration_seconds_bucket{kind="api", x=~"a|b"}[5m]))) > 1',
    ),
    ["portico_proxy_request_duration_seconds_bucket"],
  );
  assert.deepEqual(metricNames('sum(rate(a_total[5m])) / sum(rate(b_total{route=~".+/.+"}[5m])) > 0.02'), [
    "a_total",
    "b_total",
  ]);
  assert.deepEqual(
    metricNames(
      "max by (namespace, pod) (nodejs_eventloop_lag_p99_seconds and on (namespace, pod) portico_proxy_routes) > 0.2",
    ),
    ["nodejs_eventloop_lag_p99_seconds", "portico_proxy_routes"],
  );
  assert.deepEqual(metricNames("sum(x) without (pod) or y offset 5m unless z bool == 1e3"), ["x", "y", "z"]);
  assert.deepEqual(
    metricNames('rate(process_cpu_seconds_total{namespace=~"$namespace"}[$__rate_interval]) * ${factor}'),
    ["process_cpu_seconds_total"],
  );
  assert.deepEqual(metricNames('label_replace(up, "dst", "$1", "src", "(.*)")'), ["up"]);
  assert.deepEqual(metricNames("sum(a) by (le) + on (x) group_left (y) b"), ["a", "b"]);
  assert.throws(() => metricNames('sum(a{x="1")'), /unbalanced/);
  assert.throws(() => metricNames('a{x="1}'), /unterminated/);
});

test("dashboard: targets of panels and of rows' panels, and label_values variables", () => {
  const names = dashboardMetricNames({
    panels: [
      { targets: [{ expr: "sum(rate(a[5m]))" }] },
      { type: "row", panels: [{ targets: [{ expr: "b" }] }] },
    ],
    templating: { list: [{ name: "ns", query: { query: 'label_values(c{x="1"}, namespace)' } }] },
  });
  assert.deepEqual([...names.values()].flat(), ["a", "b", "c"]);
});

test("exposed names: samples, and the series names every declared family has", () => {
  const names = exposedNames(
    [
      "# HELP h_seconds h",
      "# TYPE h_seconds histogram",
      "# HELP e_total errors",
      "# TYPE e_total counter",
      "g 1",
      'g2{a="1"} 2',
    ].join("\n"),
  );
  for (const n of ["h_seconds_bucket", "h_seconds_sum", "h_seconds_count", "e_total", "g", "g2"])
    assert.ok(names.has(n), n);
  assert.ok(!names.has("h_total"));
});
