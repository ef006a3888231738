/**
 * Real IDEs in a real browser through the proxy, in both routing modes:
 *
 * - host mode: Chromium resolves every `*.portico.test` name to the proxy (--host-resolver-rules)
 *   and opens `http://{name}--{namespace}.portico.test:{port}/`, one origin per workspace;
 * - path mode: Chromium opens `http://{proxy}/w/{namespace}/{name}/`. VS Code gets the prefix
 *   stripped (its pages use relative URLs); Jupyter is told its base URL (the operator fills
 *   `{prefix}` in path routing) and keeps the prefix.
 *
 * VS Code loads with its server WebSocket connected through the proxy; Jupyter runs `1+1` on a real
 * kernel over the proxied kernel WebSocket. Each mode has its own operator, proxy and namespace.
 */
import { after, before, describe, test } from "node:test";
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

const MODES = [
  { mode: "host", address: "198.18.0.71" },
  { mode: "path", address: "198.18.0.72" },
] as const;

for (const { mode, address } of MODES) {
  describe(`${mode} mode`, () => {
    let c: Clients;
    let ns: { name: string; drop: () => Promise<void> };
    let op: OperatorProcess;
    let px: ProxyProcess;
    let browser: TestBrowser;
    const vscode = uniqueName("vscode");
    const jupyter = uniqueName("jupyter");
    const flags = mode === "path" ? ["--routing=path"] : [];
    /** Where the browser opens a workspace, and the Host to send for it (host mode). */
    const at = (name: string) =>
      mode === "host"
        ? { url: `http://${px.hostFor(ns.name, name)}/`, prefix: "", host: px.hostFor(ns.name, name) }
        : { url: `${px.url}/w/${ns.name}/${name}/`, prefix: `/w/${ns.name}/${name}`, host: undefined };

    before(async () => {
      await promisify(execFile)("bash", [INSTALL_CODE_SERVER], { timeout: 20 * 60_000 });
      c = clients();
      ns = await withNamespace(c, `ide-${mode}`);
      await createClass(c, await vscodeClass(vscode));
      await createClass(c, jupyterClass(jupyter));
      op = await startOperator([...flags, `--lease-name=ide-proxy-${mode}`], `ide-proxy-${mode}-operator`);
      px = await startProxy({ address, port: 8080, flags, name: `ide-proxy-${mode}` });
      browser = await launchBrowser({
        parentDir: stateDir(),
        hostMap: mode === "host" ? { "portico.test": address } : undefined,
      });
    });

    after(async () => {
      await browser?.close();
      await px?.stop();
      await op?.stop();
      await ns?.drop();
      await deleteClass(c, vscode);
      await deleteClass(c, jupyter);
    });

    test(`${mode} mode: Chromium opens a vscode Workspace through the proxy; workbench and WebSocket work`, async () => {
      await createWorkspace(c, workspace(ns.name, "code", { className: vscode }));
      await waitWorkspace(c, ns.name, "code", "Ready", isReady, 180_000);
      const w = at("code");
      await routed(px, `${w.prefix}/healthz`, w.host);
      const file = await writeToVolume(
        c,
        ns.name,
        "code",
        "hello-portico.txt",
        `through the proxy, ${mode} mode\n`,
      );
      await checkVSCode(browser, w.url, file, `ide-vscode-proxy-${mode}`);
    });

    test(`${mode} mode: Chromium opens a jupyter Workspace through the proxy, runs 1+1 on a kernel and gets 2`, async () => {
      await createWorkspace(c, workspace(ns.name, "nb", { className: jupyter }));
      await waitWorkspace(c, ns.name, "nb", "Ready", isReady, 180_000);
      const w = at("nb");
      await routed(px, `${w.prefix}/api`, w.host);
      await checkJupyter(browser, w.url, `ide-jupyter-proxy-${mode}`);
    });
  });
}
