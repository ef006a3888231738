/**
 * Measurement (not a test) of what an unattended IDE tab sends, to choose the classes' idle
 * settings (docs/lifecycle.md, "What counts as activity, per IDE"): real code-server and real
 * Jupyter Server behind the real proxy (host mode), opened in Chromium, each phase left alone (or
 * typed into) for a fixed time while the browser records every client-to-server WebSocket message
 * (size, socket) and every HTTP request the page (and its workers) make.
 *
 * Phases, VS Code and Jupyter side by side in one browser:
 * - vscode-editor: the workbench with an editor tab open (folder trusted, a file open), no input;
 * - vscode-terminal-open: the integrated terminal opened, no input;
 * - vscode-typing: a key typed into the terminal every 3 s;
 * - vscode-editor-typing: a key typed into the open editor every 3 s;
 * - jupyter-tree: the notebook file browser (classic UI: Debian's Jupyter Server has no JupyterLab);
 * - jupyter-notebook: a notebook open with its kernel idle, no input.
 *
 *   bash e2e/run-bench.sh ide-activity [-- --idle=120 --typing=60]
 *   (or, on a running cluster: bash e2e/cluster/cluster.sh exec -- node e2e/bench/ide-activity.ts)
 *
 * Prints one JSON line per phase and a Markdown table.
 */
import { execFile } from "node:child_process";
import { parseArgs, promisify } from "node:util";
import type { Page, WebSocket } from "playwright-core";
import { INSTALL_CODE_SERVER, vscodeClass, writeToVolume } from "../ide/checks.ts";
import { launchBrowser } from "../lib/browser.ts";
import { clients, uniqueName, withNamespace } from "../lib/kube.ts";
import { startOperator, stateDir } from "../lib/operator.ts";
import { startProxy } from "../lib/proxy.ts";
import {
  createClass,
  createWorkspace,
  deleteClass,
  isReady,
  jupyterClass,
  waitWorkspace,
  workspace,
} from "../lib/workspaces.ts";

const { values: opt } = parseArgs({
  options: { idle: { type: "string", default: "120" }, typing: { type: "string", default: "60" } },
});
const IDLE_S = Number(opt.idle);
const TYPING_S = Number(opt.typing);
const ADDRESS = "198.18.0.239";

interface Sent {
  at: number;
  socket: string;
  bytes: number;
  /** The message's printable characters (what it is: VS Code's RPC names its methods in it). */
  text: string;
}
interface Recorder {
  sent: Sent[];
  requests: { at: number; method: string; url: string }[];
}

/** Where a URL goes, without ids and query values that differ run to run. */
const shape = (u: string) =>
  new URL(u).pathname.replace(/[0-9a-f]{8}-[0-9a-f-]{27,}/g, "{id}").replace(/\/[0-9a-f]{32,}/g, "/{hash}");

function record(page: Page): Recorder {
  const r: Recorder = { sent: [], requests: [] };
  let opened = 0;
  page.on("websocket", (ws: WebSocket) => {
    // VS Code's two sockets (management, extension host) share one URL: number them in order of opening.
    const socket = `${shape(ws.url())} #${++opened}`;
    ws.on("framesent", (f) => {
      const b = typeof f.payload === "string" ? Buffer.from(f.payload) : f.payload;
      const text = b
        .toString("latin1")
        .replace(/[^\x20-\x7e]+/g, ".")
        .slice(0, 400);
      r.sent.push({ at: Date.now(), socket, bytes: b.length, text });
    });
  });
  page.on("request", (q) => r.requests.push({ at: Date.now(), method: q.method(), url: q.url() }));
  return r;
}

/** What `r` recorded in [from, to): per socket the message count, per minute, sizes; the HTTP requests. */
function summarize(phase: string, r: Recorder, from: number, to: number) {
  const minutes = (to - from) / 60_000;
  const sent = r.sent.filter((s) => s.at >= from && s.at < to);
  const sockets: Record<
    string,
    {
      messages: number;
      perMinute: number;
      sizes: Record<number, number>;
      max: number;
      samples: Record<number, string>;
    }
  > = {};
  for (const s of sent) {
    const e = (sockets[s.socket] ??= { messages: 0, perMinute: 0, sizes: {}, max: 0, samples: {} });
    e.samples[s.bytes] ??= s.text;
    e.messages++;
    e.sizes[s.bytes] = (e.sizes[s.bytes] ?? 0) + 1;
    e.max = Math.max(e.max, s.bytes);
  }
  for (const e of Object.values(sockets)) e.perMinute = Math.round((e.messages / minutes) * 10) / 10;
  const reqs = r.requests.filter((q) => q.at >= from && q.at < to);
  const requests: Record<string, number> = {};
  for (const q of reqs)
    requests[`${q.method} ${shape(q.url)}`] = (requests[`${q.method} ${shape(q.url)}`] ?? 0) + 1;
  return {
    phase,
    seconds: Math.round((to - from) / 1000),
    sockets,
    requests,
    requestsPerMinute: Math.round((reqs.length / minutes) * 10) / 10,
  };
}

const pause = (s: number) => new Promise((r) => setTimeout(r, s * 1000));

async function main(): Promise<void> {
  await promisify(execFile)("bash", [INSTALL_CODE_SERVER], { timeout: 20 * 60_000 });
  const c = clients();
  const ns = await withNamespace(c, "ide-activity");
  const vscode = uniqueName("vscode");
  const jupyter = uniqueName("jupyter");
  await createClass(c, await vscodeClass(vscode));
  await createClass(c, jupyterClass(jupyter));
  const op = await startOperator(["--lease-name=ide-activity"], "ide-activity-operator");
  const px = await startProxy({ address: ADDRESS, port: 8080, name: "ide-activity-proxy" });
  const browser = await launchBrowser({ parentDir: stateDir(), hostMap: { "portico.test": ADDRESS } });
  const results: ReturnType<typeof summarize>[] = [];
  try {
    await createWorkspace(c, workspace(ns.name, "code", { className: vscode }));
    await createWorkspace(c, workspace(ns.name, "nb", { className: jupyter }));
    await waitWorkspace(c, ns.name, "code", "Ready", isReady, 180_000);
    await waitWorkspace(c, ns.name, "nb", "Ready", isReady, 180_000);
    const file = await writeToVolume(c, ns.name, "code", "idle.txt", "left alone\n");
    const nbFile = "idle.ipynb";
    await writeToVolume(
      c,
      ns.name,
      "nb",
      nbFile,
      JSON.stringify({
        cells: [],
        metadata: { kernelspec: { name: "python3", display_name: "Python 3", language: "python" } },
        nbformat: 4,
        nbformat_minor: 5,
      }),
    );

    const code = (await browser.newPage()).page;
    const rc = record(code);
    await code.goto(`http://${px.hostFor(ns.name, "code")}/`, {
      waitUntil: "domcontentloaded",
      timeout: 60_000,
    });
    await code.waitForSelector(".monaco-workbench", { timeout: 90_000 });
    await code.getByRole("button", { name: "Yes, I trust the authors" }).click({ timeout: 60_000 });
    await code
      .locator(".explorer-folders-view .monaco-list-row", { hasText: file.name })
      .click({ timeout: 60_000 });
    await code
      .locator(".editor-instance .view-lines", { hasText: file.content })
      .waitFor({ timeout: 30_000 });

    const tree = (await browser.newPage()).page;
    const rt = record(tree);
    await tree.goto(`http://${px.hostFor(ns.name, "nb")}/tree`, { waitUntil: "domcontentloaded" });
    const nb = (await browser.newPage()).page;
    const rn = record(nb);
    await nb.goto(`http://${px.hostFor(ns.name, "nb")}/notebooks/${nbFile}`, {
      waitUntil: "domcontentloaded",
    });
    await nb.waitForSelector("#kernel_indicator_icon.kernel_idle_icon", { timeout: 60_000 });

    // Settle (page loads, extension host start), then leave everything alone.
    await pause(15);
    let t0 = Date.now();
    await pause(IDLE_S);
    let t1 = Date.now();
    results.push(summarize("vscode-editor", rc, t0, t1));
    results.push(summarize("jupyter-tree", rt, t0, t1));
    results.push(summarize("jupyter-notebook", rn, t0, t1));

    await code.keyboard.press("Control+Backquote");
    await code.locator(".terminal-wrapper .xterm").first().waitFor({ timeout: 60_000 });
    await pause(10);
    t0 = Date.now();
    await pause(IDLE_S / 2);
    t1 = Date.now();
    results.push(summarize("vscode-terminal-open", rc, t0, t1));

    await code.locator(".terminal-wrapper .xterm").first().click();
    t0 = Date.now();
    for (let i = 0; Date.now() - t0 < TYPING_S * 1000; i++) {
      await code.keyboard.type(i % 10 === 9 ? "\n" : "x");
      await pause(3);
    }
    t1 = Date.now();
    results.push(summarize("vscode-typing", rc, t0, t1));

    await code.locator(".editor-instance .view-lines").first().click();
    t0 = Date.now();
    for (let i = 0; Date.now() - t0 < TYPING_S * 1000; i++) {
      await code.keyboard.type(i % 10 === 9 ? "\n" : "y");
      await pause(3);
    }
    t1 = Date.now();
    results.push(summarize("vscode-editor-typing", rc, t0, t1));
  } finally {
    for (const r of results) console.log(JSON.stringify(r));
    console.log(table(results));
    await browser.close();
    await px.stop();
    await op.stop();
    await ns.drop();
    await deleteClass(c, vscode);
    await deleteClass(c, jupyter);
  }
}

function table(results: ReturnType<typeof summarize>[]): string {
  const rows = [
    "| phase | socket | messages/min | sizes (bytes × count) | HTTP requests/min |",
    "| --- | --- | --- | --- | --- |",
  ];
  for (const r of results) {
    const sockets = Object.entries(r.sockets);
    if (!sockets.length)
      rows.push(`| ${r.phase} | (none) | 0 | | ${r.requestsPerMinute} ${JSON.stringify(r.requests)} |`);
    for (const [s, e] of sockets)
      rows.push(
        `| ${r.phase} | ${s} | ${e.perMinute} | ${Object.entries(e.sizes)
          .map(([b, n]) => `${b}×${n}`)
          .join(", ")} | ${r.requestsPerMinute} ${JSON.stringify(r.requests)} |`,
      );
  }
  return rows.join("\n");
}

await main();
