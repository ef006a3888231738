/**
 * Real IDEs in a real browser through the proxy in host mode: Chromium resolves every
 * `*.portico.test` name to the proxy (--host-resolver-rules) and opens
 * `http://{name}--{namespace}.portico.test:{port}/`, one origin per workspace. VS Code (prefix
 * stripped, nothing to strip in host mode) loads with its server WebSocket connected through the
 * proxy; Jupyter runs `1+1` on a real kernel over the proxied kernel WebSocket.
 */
import { after, before, test } from "node:test";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { checkJupyter, checkVSCode, INSTALL_CODE_SERVER, vscodeClass, writeToVolume } from "../ide/checks.ts";
import { routed } from "../ide/routed.ts";
import { launchBrowser, type TestBrowser } from "../lib/browser.ts";
import { clients, uniqueName, withNamespace, type Clients } from "../lib/kube.ts";
import { startOperator, stateDir, type OperatorProcess } from "../lib/operator.ts";
import { startProxy, type ProxyProcess } from "../lib/proxy.ts";
import {
  createClass,
  createWorkspace,
  deleteClass,
  isReady,
  jupyterClass,
  waitWorkspace,
  workspace,
} from "../lib/workspaces.ts";

const ADDRESS = "198.18.0.71";
let c: Clients;
let ns: { name: string; drop: () => Promise<void> };
let op: OperatorProcess;
let px: ProxyProcess;
let browser: TestBrowser;
const vscode = uniqueName("vscode");
const jupyter = uniqueName("jupyter");

before(async () => {
  await promisify(execFile)("bash", [INSTALL_CODE_SERVER], { timeout: 20 * 60_000 });
  c = clients();
  ns = await withNamespace(c, "ide-host");
  await createClass(c, await vscodeClass(vscode));
  await createClass(c, jupyterClass(jupyter));
  op = await startOperator(["--lease-name=ide-proxy-host"], "ide-proxy-host-operator");
  px = await startProxy({ address: ADDRESS, port: 8080, name: "ide-proxy-host" });
  browser = await launchBrowser({ parentDir: stateDir(), hostMap: { "portico.test": ADDRESS } });
});

after(async () => {
  await browser?.close();
  await px?.stop();
  await op?.stop();
  await ns?.drop();
  await deleteClass(c, vscode);
  await deleteClass(c, jupyter);
});

test("host mode: Chromium opens a vscode Workspace by its name through the proxy; workbench and WebSocket work", async () => {
  await createWorkspace(c, workspace(ns.name, "code", { className: vscode }));
  await waitWorkspace(c, ns.name, "code", "Ready", isReady, 180_000);
  const host = px.hostFor(ns.name, "code");
  await routed(px, "/healthz", host);
  const file = await writeToVolume(c, ns.name, "code", "hello-portico.txt", "through the proxy, host mode\n");
  await checkVSCode(browser, `http://${host}/`, file, "ide-vscode-proxy-host");
});

test("host mode: Chromium opens a jupyter Workspace through the proxy, runs 1+1 on a kernel and gets 2", async () => {
  await createWorkspace(c, workspace(ns.name, "nb", { className: jupyter }));
  await waitWorkspace(c, ns.name, "nb", "Ready", isReady, 180_000);
  const host = px.hostFor(ns.name, "nb");
  await routed(px, "/api", host);
  await checkJupyter(browser, `http://${host}/`, "ide-jupyter-proxy-host");
});
