/**
 * The numbers of `npm run bench:start` (start.ts): each start cut at its marks into segments, each
 * segment owned by Portico (operator, proxy), Kubernetes (API server, scheduler, the pod runner and
 * its readiness probe) or the IDE; medians (min–max) over the runs, and docs/benchmarks.md's section.
 */
import type { Ide, Load } from "./start-browser.ts";
import type { Marks } from "./start-timeline.ts";

export interface Run {
  ide: Ide;
  kind: "apply" | "wake";
  name: string;
  marks: Marks;
  load: Load & { t0: number };
  /** Apply runs: the browser load alone, server warm, through the proxy and directly at the pod (ms, mean of the run's loads). */
  warmProxy?: number;
  warmDirect?: number;
  warm?: Record<"proxy" | "direct", (Load & { t0: number })[]>;
  /** Apply runs: the page's GETs fetched again one after another (start-replay.ts), mean ms per pass. */
  http?: { direct: number; proxy: number; requests: number };
}

type Who = "Portico" | "Kubernetes" | "IDE";
type At = Exclude<keyof Marks, "opFirstWhat"> | "ideNav" | "usable";

interface Segment {
  label: string;
  who: Who | "IDE + proxy";
  from: At | ((r: Run) => At);
  to: At;
  only?: Run["kind"];
}

export const SEGMENTS: readonly Segment[] = [
  {
    label: "`kubectl apply` → the Workspace's watch event (kubectl, API server)",
    who: "Kubernetes",
    from: "t0",
    to: "wsSeen",
    only: "apply",
  },
  {
    label: "Chromium opens the URL → `portico.dev/woken` (the proxy wakes it)",
    who: "Portico",
    from: "t0",
    to: "woken",
    only: "wake",
  },
  {
    label: "→ pod created (operator)",
    who: "Portico",
    from: (r) => (r.kind === "apply" ? "wsSeen" : "woken"),
    to: "podCreated",
  },
  {
    label: "→ IDE process spawned (scheduler, pod runner)",
    who: "Kubernetes",
    from: "podCreated",
    to: "spawned",
  },
  {
    label: "→ IDE answers its readiness path at the pod (**IDE start**)",
    who: "IDE",
    from: "spawned",
    to: "answers",
  },
  {
    label: "→ pod Ready (readiness probe: 1 s delay, 2 s period)",
    who: "Kubernetes",
    from: "answers",
    to: "podReady",
  },
  { label: "→ Workspace Ready (operator's status)", who: "Portico", from: "podReady", to: "wsReady" },
  { label: "→ first 200 through the proxy (proxy's routes)", who: "Portico", from: "wsReady", to: "routed" },
  {
    label: "→ Chromium asks for the IDE's page (waiting page's reload)",
    who: "Portico",
    from: "routed",
    to: "ideNav",
  },
  {
    label: "→ usable in Chromium (first load, through the proxy)",
    who: "IDE + proxy",
    from: "ideNav",
    to: "usable",
  },
];

const at = (r: Run, k: At): number => {
  const v = k === "ideNav" || k === "usable" ? r.load[k] : r.marks[k];
  if (typeof v !== "number") throw new Error(`${r.name} ${r.kind}: no ${k}`);
  return v;
};

export const segmentMs = (s: Segment, r: Run): number =>
  at(r, s.to) - at(r, typeof s.from === "function" ? s.from(r) : s.from);

/**
 * The proxy's added time on a load of this run's workspace: its apply run's page GETs fetched again
 * through the proxy less directly (start-replay.ts; the browser loads' difference is noise here).
 */
function proxyAdded(r: Run, all: readonly Run[]): number {
  const a = r.kind === "apply" ? r : all.find((x) => x.kind === "apply" && x.name === r.name);
  return a?.http ? a.http.proxy - a.http.direct : NaN;
}

/** Portico's, Kubernetes' and the IDE's shares of one start, and its total (ms). */
export function shares(r: Run, all: readonly Run[]): Record<Who | "control" | "total", number> {
  const out = { Portico: 0, control: 0, Kubernetes: 0, IDE: 0, total: at(r, "usable") - r.marks.t0 };
  const added = proxyAdded(r, all);
  for (const s of SEGMENTS) {
    if (s.only && s.only !== r.kind) continue;
    const ms = segmentMs(s, r);
    if (s.who === "IDE + proxy") {
      out.Portico += added;
      out.IDE += ms - added;
    } else out[s.who] += ms;
    if (s.who === "Portico") out.control += ms;
  }
  return out;
}

export function stats(xs: readonly number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]! };
}

const cell = (xs: readonly number[], bold = false, digits = 0) => {
  if (!xs.length) return "—";
  const { median, min, max } = stats(xs);
  const m = median.toFixed(digits);
  return `${bold ? `**${m}**` : m} (${min.toFixed(digits)}–${max.toFixed(digits)})`;
};

function ideTable(ide: Ide, runs: readonly Run[]): string {
  const of = (kind: Run["kind"]) => runs.filter((r) => r.ide === ide && r.kind === kind);
  const apply = of("apply");
  const wake = of("wake");
  const rows = SEGMENTS.map((s) => {
    const col = (rs: Run[]) =>
      s.only && rs[0] && s.only !== rs[0].kind ? "—" : cell(rs.map((r) => segmentMs(s, r)));
    return `| ${s.label} | ${s.who} | ${col(apply)} | ${col(wake)} |`;
  });
  const share = (who: Who | "control" | "total", label: string) =>
    `| ${label} | | ${cell(
      apply.map((r) => shares(r, runs)[who]),
      true,
    )} | ${cell(
      wake.map((r) => shares(r, runs)[who]),
      true,
    )} |`;
  const first = apply[0];
  const opFirst = first?.marks.opFirstWhat ? ` (its first write: ${first.marks.opFirstWhat})` : "";
  return [
    `**${ide === "vscode" ? "VS Code (code-server)" : "Jupyter (Jupyter Server, notebook UI)"}**${opFirst}, ms, median (min–max) of ${apply.length} / ${wake.length}:`,
    "",
    "| segment | whose | apply → usable | wake → usable |",
    "| --- | --- | --- | --- |",
    ...rows,
    share("total", "**total: t0 → usable in Chromium**"),
    share(
      "control",
      "Portico's control path: the Portico segments above (operator, status, routes, waiting page)",
    ),
    share(
      "Portico",
      "**Portico's share**: that + the proxy's added time on the page's requests (its run's, table below)",
    ),
    share("Kubernetes", "Kubernetes' share: API server, scheduler, pod runner, readiness probe"),
    share(
      "IDE",
      "the IDE's own: process start + its first load in the browser (less the proxy's added time)",
    ),
  ].join("\n");
}

function warmTable(ides: readonly Ide[], runs: readonly Run[]): string {
  const rows = ides.flatMap((ide) => {
    const a = runs.filter((r) => r.ide === ide && r.kind === "apply");
    const n = stats(a.map((r) => r.http?.requests ?? NaN)).median;
    return [
      `| ${ide}: Chromium, open → usable | ${cell(a.map((r) => r.warmDirect!))} | ${cell(a.map((r) => r.warmProxy!))} | ${cell(
        a.map((r) => r.warmProxy! - r.warmDirect!),
      )} |`,
      `| ${ide}: the page's ${n} GETs one after another | ${cell(
        a.map((r) => r.http!.direct),
        false,
        1,
      )} | ${cell(
        a.map((r) => r.http!.proxy),
        false,
        1,
      )} | ${cell(
        a.map((r) => r.http!.proxy - r.http!.direct),
        true,
        1,
      )} |`,
    ];
  });
  return [
    "| IDE: what | directly at the pod | through the proxy | the proxy's added time (per run) |",
    "| --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
}

/** One sentence per start kind: each share's median as a part of the median total. */
function summary(ides: readonly Ide[], runs: readonly Run[]): string {
  const kinds = (["apply", "wake"] as const).filter((k) => runs.some((r) => r.kind === k));
  const parts = kinds.map((kind) => {
    const per = ides.map((ide) => {
      const rs = runs.filter((r) => r.ide === ide && r.kind === kind).map((r) => shares(r, runs));
      const med = (k: Who | "total") => stats(rs.map((x) => x[k])).median;
      const pct = (k: Who) => ((100 * med(k)) / med("total")).toFixed(0);
      return `${ide === "vscode" ? "VS Code" : "Jupyter"} ${med("total").toFixed(0)} ms: Portico ${med("Portico").toFixed(0)} (${pct("Portico")}%), the IDE ${med("IDE").toFixed(0)} (${pct("IDE")}%), Kubernetes ${med("Kubernetes").toFixed(0)} (${pct("Kubernetes")}%)`;
    });
    return `${kind === "apply" ? "apply → usable" : "wake → usable"}: ${per.join("; ")}`;
  });
  return `**In short** (medians of each share and of the total; they need not add up): ${parts.join(". ")}.`;
}

export function startSection(
  runs: readonly Run[],
  o: { command: string; loads: string[]; runs: number; wake: boolean; stop: string },
): string {
  const ides = [...new Set(runs.map((r) => r.ide))];
  const waiting = stats(runs.map((r) => r.load.waitingPages));
  const stopHow =
    o.stop === "timeout"
      ? "`kubectl patch` sets `spec.idleTimeout: 1s`; the operator's idle stop (the `Idle` condition True, reason IdleTimeout, the pod deleted); then the timeout is removed again (the class's applies), so the woken workspace is not stopped again while measured"
      : "the `portico.dev/idle-stopped` annotation written as an admin (`kubectl annotate`), as the operator does; the operator deletes the pod";
  return `<!-- start:start -->
## Start: \`kubectl apply\` → IDE usable in Chromium, and wake → usable

Command: \`${o.command}\` (${new Date().toISOString().slice(0, 10)}; the same 2-vCPU machine, shared
with other work; load average ${o.loads.join("; ")}). One cluster (\`e2e/bench/start.ts\`): the real
operator and proxy (host mode, \`--auth=none\`, rate limits off) under the chart's RBAC, the pod runner
running the real IDEs (code-server 4.104 for the chart's vscode class, Debian's Jupyter Server for the
e2e jupyter class), Debian's Chromium (headless). ${o.runs} runs; per run and IDE a fresh Workspace
(new volume):

- **apply → usable**: t0 = \`kubectl apply -f -\` of the Workspace (the harness's kubeconfig, as a user
  would); when kubectl returns, Chromium opens the workspace's URL: the proxy's waiting page, whose
  script reloads once the proxy routes the IDE. **Usable**: VS Code's workbench (\`.monaco-workbench\`)
  is there and its explorer lists the folder's entries (read from code-server over its WebSocket);
  Jupyter's file browser (\`tree\`) loads, a notebook is made from the page (\`PUT api/contents\`, what
  its New menu sends) and opened, its kernel comes up idle, \`1+1\` is typed into the first cell and
  run, and \`2\` shows (over the kernel's WebSocket, through the proxy) — in the notebook UI, not a
  client of the kernel protocol.
- **wake → usable**${o.wake ? "" : " (not run: `--wake=false`)"}: the same workspace, stopped for idleness
  (${stopHow}); once the proxy answers it as stopped, t0 = Chromium opens its URL; the proxy wakes it
  (the \`portico.dev/woken\` annotation) and shows the waiting page; usable as above.

The marks: watch events on the namespace's Workspaces and pods (their arrival, ms: the API server's
own times are whole seconds); the operator's pod create and the proxy's wake write as the API server's
audit log has them (µs);
the pod runner's log line spawning the IDE's process (ms); the IDE's readiness path polled every
20 ms at the pod address (when the IDE itself first answered: the pod's Ready waits for the next
probe); the same path polled through the proxy from the pod's Ready on (the first 200's arrival — or
Chromium's own request of the IDE's page when that came first, it being a 200 through the proxy too); Chromium's
request for the IDE's page (not the waiting page, which Chromium got a median ${waiting.median}, at most ${waiting.max} times per start). The clocks are one machine's.

${summary(ides, runs)}

${ides.map((ide) => ideTable(ide, runs)).join("\n\n")}

**The load alone, through the proxy and directly** (the same workspace after its apply run, server warm).
Chromium: per run two loads through the proxy and two directly at the pod address, ABBA, which comes
first alternating per run, each in a fresh browser context (no cache); t0 = open → usable as above;
the run's mean per path. HTTP: the same page's GET requests as Chromium made them at the pod (document,
scripts, styles, fonts, the IDE's API reads; not the WebSockets), fetched again one after another over
one keep-alive connection, uncompressed (\`accept-encoding: identity\`: the IDEs compress on the fly,
code-server its 3 MB workbench script on every request, hundreds of noisy ms the proxy does not add to;
uncompressed, more bytes pass through the proxy), 5 passes per path alternating; the run's mean per pass. Median (min–max) over the runs, ms:

${warmTable(ides, runs)}

The direct Chromium load is the IDE's own browser-side start (its assets, parsing and running them,
its first requests; for Jupyter a new kernel): seconds, and on this shared machine its noise (the
per-run differences above, either sign) is larger than anything the proxy adds, so Portico's share
counts the proxy's added time from the HTTP replay instead — the proxy's time on every byte the page
fetched, summed one request after another (an upper bound: Chromium fetches six at a time, compressed); the rest
of the first load counts as the IDE's. Most of Kubernetes' share, and of the spread between runs, is
the readiness probe's segment (0–2 s: where the IDE's first answer falls in the probe's period).
Kubernetes' share here is the local cluster's (a pod runner
spawning local processes, no image pull); on a real cluster the image pull and the kubelet's probe
period (10 s by default; Portico sets 2 s) come on top.
<!-- start:end -->`;
}
