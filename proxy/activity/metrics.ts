/** `portico_activity_reports_total{result}`: the activity flusher's writes (written, failed, deferred). */
import { Counter, type Registry } from "prom-client";
import type { ReportResult } from "./flusher.ts";

export function activityMetrics(registry: Registry): (result: ReportResult, n?: number) => void {
  const reports = new Counter({
    name: "portico_activity_reports_total",
    help: "Activity annotation reports: written, failed (retried next round), deferred (over the writes-per-second budget).",
    labelNames: ["result"],
    registers: [registry],
  });
  return (result, n = 1) => reports.inc({ result }, n);
}
