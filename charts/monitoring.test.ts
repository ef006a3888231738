/**
 * The chart's optional Grafana dashboard (a ConfigMap for Grafana's sidecar) and PrometheusRule, as the
 * real helm renders them: absent by default; when enabled, they carry files/monitoring/ unchanged
 * (Prometheus's own `{{ $labels.… }}` templates included), with the labels and namespace asked for.
 * That the metrics they query exist is e2e/tests/metrics.test.ts, against the real components.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { CHART, renderChart, type K8sObject } from "../e2e/lib/helm.ts";
import { dashboardMetricNames, metricNames } from "../e2e/lib/promql.ts";

const DASHBOARD = JSON.parse(readFileSync(join(CHART, "files/monitoring/dashboard.json"), "utf8")) as unknown;
interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const ALERTS = parse(readFileSync(join(CHART, "files/monitoring/alerts.yaml"), "utf8")) as {
  groups: { name: string; rules: Rule[] }[];
};

type ConfigMap = K8sObject & { data: Record<string, string> };
type PrometheusRule = K8sObject & { spec: { groups: unknown[] } };

describe("monitoring objects", () => {
  it("are not rendered by default", async () => {
    const objects = await renderChart();
    assert.equal(objects.filter((o) => o.kind === "PrometheusRule").length, 0);
    assert.equal(objects.filter((o) => o.metadata.name === "portico-dashboard").length, 0);
  });

  it("the dashboard: a ConfigMap with the sidecar's label, in the namespace asked for, the JSON unchanged", async () => {
    const objects = await renderChart({
      "metrics.grafanaDashboard.enabled": true,
      "metrics.grafanaDashboard.namespace": "monitoring",
      "metrics.grafanaDashboard.annotations": { grafana_folder: "Portico" },
    });
    const cm = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === "portico-dashboard");
    assert.ok(cm, "a ConfigMap portico-dashboard");
    assert.equal(cm.metadata.namespace, "monitoring");
    assert.equal(cm.metadata.labels?.grafana_dashboard, "1");
    assert.equal(cm.metadata.annotations?.grafana_folder, "Portico");
    assert.deepEqual(JSON.parse((cm as ConfigMap).data["portico.json"]!), DASHBOARD);
    assert.equal(objects.filter((o) => o.kind === "PrometheusRule").length, 0, "each is its own choice");
  });

  it("the alerts: a PrometheusRule with the file's groups, Prometheus templates untouched", async () => {
    const objects = await renderChart({
      "metrics.prometheusRule.enabled": true,
      "metrics.prometheusRule.labels": { release: "kube-prometheus-stack" },
    });
    const rule = objects.find((o) => o.kind === "PrometheusRule") as PrometheusRule | undefined;
    assert.ok(rule, "a PrometheusRule");
    assert.equal(rule.apiVersion, "monitoring.coreos.com/v1");
    assert.equal(rule.metadata.namespace, "portico-system");
    assert.equal(rule.metadata.labels?.release, "kube-prometheus-stack");
    assert.deepEqual(rule.spec.groups, ALERTS.groups);
    assert.match(JSON.stringify(rule.spec.groups), /\{\{ \$labels\.pod \}\}/);
  });
});

describe("monitoring files", () => {
  it("every alert has an expression, a for, a severity and a summary; names are unique", () => {
    const rules = ALERTS.groups.flatMap((g) => g.rules);
    assert.ok(rules.length >= 10);
    assert.equal(new Set(rules.map((r) => r.alert)).size, rules.length);
    for (const r of rules) {
      assert.ok(r.expr && r.for, `${r.alert}: expr and for`);
      assert.match(r.labels?.severity ?? "", /^(critical|warning|info)$/, `${r.alert}: severity`);
      assert.ok(r.annotations?.summary, `${r.alert}: summary`);
    }
  });

  it("queries read only Portico's own metrics and the standard process and Node.js ones", () => {
    const read = [
      ...ALERTS.groups.flatMap((g) => g.rules.flatMap((r) => metricNames(r.expr))),
      ...[...dashboardMetricNames(DASHBOARD).values()].flat(),
    ];
    assert.ok(read.length > 20);
    for (const name of read) assert.match(name, /^(portico_(operator|proxy|gateway)_|process_|nodejs_)/);
    // The latency alert reads the histogram that status streams and WebSockets stay out of.
    assert.ok(read.includes("portico_proxy_request_duration_seconds_bucket"));
  });
});
