/**
 * Real IDEs in a real browser through the proxy in path mode: Chromium opens
 * `http://{proxy}/w/{namespace}/{name}/`. VS Code gets the prefix stripped (its pages use relative
 * URLs) and loads with its server WebSocket connected through the proxy; Jupyter is told its base URL
 * (the operator fills `{prefix}` in path routing), keeps the prefix, and runs `1+1` on a real kernel
 * over the proxied kernel WebSocket.
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

const ADDRESS = "198.18.0.72";
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
  ns = await withNamespace(c, "ide-path");
  await createClass(c, await vscodeClass(vscode));
  await createClass(c, jupyterClass(jupyter));
  op = await startOperator(["--routing=path", "--lease-name=ide-proxy-path"], "ide-proxy-path-operator");
  px = await startProxy({ address: ADDRESS, port: 8080, flags: ["--routing=path"], name: "ide-proxy-path" });
  browser = await launchBrowser({ parentDir: stateDir() });
});

after(async () => {
  await browser?.close();
  await px?.stop();
  await op?.stop();
  await ns?.drop();
  await deleteClass(c, vscode);
  await deleteClass(c, jupyter);
});

test("path mode: Chromium opens a vscode Workspace at /w/{ns}/{name}/ through the proxy; workbench and WebSocket work", async () => {
  await createWorkspace(c, workspace(ns.name, "code", { className: vscode }));
  await waitWorkspace(c, ns.name, "code", "Ready", isReady, 180_000);
  const prefix = `/w/${ns.name}/code`;
  await routed(px, `${prefix}/healthz`);
  const file = await writeToVolume(c, ns.name, "code", "hello-portico.txt", "through the proxy, path mode\n");
  await checkVSCode(browser, `${px.url}${prefix}/`, file, "ide-vscode-proxy-path");
});

test("path mode: Chromium opens a jupyter Workspace at /w/{ns}/{name}/ through the proxy, runs 1+1 and gets 2", async () => {
  await createWorkspace(c, workspace(ns.name, "nb", { className: jupyter }));
  await waitWorkspace(c, ns.name, "nb", "Ready", isReady, 180_000);
  const prefix = `/w/${ns.name}/nb`;
  await routed(px, `${prefix}/api`);
  await checkJupyter(browser, `${px.url}${prefix}/`, "ide-jupyter-proxy-path");
});
