/**
 * Real IDEs in a real browser, directly at the pod: the operator turns a vscode Workspace (the class
 * from the chart) into a running code-server and a jupyter Workspace into a running Jupyter
 * Server (the pod runner maps their images to the local programs), and Debian's Chromium opens them
 * at the pod's address: the VS Code workbench loads with its server WebSocket connected and opens a
 * file from the workspace volume; a notebook runs `1+1` on a real kernel and shows 2. The same checks
 * through the proxy, in host and path mode, are in ide-proxy.test.ts. And the demo's VS Code
 * (`npm run demo`): its class as scripts/demo-objects.ts makes it, cloning the demo's sample project
 * from a real git http-backend, opens that clone without the workspace-trust prompt.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { demoClass } from "../../scripts/demo-objects.ts";
import { startGitHttpServer, type GitHttpServer } from "../fixtures/git-http.ts";
import {
  checkJupyter,
  checkVSCode,
  checkVSCodeOpensClone,
  INSTALL_CODE_SERVER,
  vscodeClass,
  writeToVolume,
} from "../ide/checks.ts";
import { launchBrowser, type TestBrowser } from "../lib/browser.ts";
import { clients, uniqueName, withNamespace, type Clients } from "../lib/kube.ts";
import { startOperator, stateDir, type OperatorProcess } from "../lib/operator.ts";
import {
  createClass,
  createWorkspace,
  deleteClass,
  isReady,
  jupyterClass,
  waitWorkspace,
  workspace,
} from "../lib/workspaces.ts";

let c: Clients;
let ns: { name: string; drop: () => Promise<void> };
let op: OperatorProcess;
let browser: TestBrowser;
const vscode = uniqueName("vscode");
const jupyter = uniqueName("jupyter");
const demoVscode = uniqueName("demo-vscode");
/** The demo's sample-project server: its own address in the namespace. */
const GIT_HOST = "198.18.0.77";
let git: GitHttpServer | undefined;

before(async () => {
  await promisify(execFile)("bash", [INSTALL_CODE_SERVER], { timeout: 20 * 60_000 });
  c = clients();
  ns = await withNamespace(c, "ide");
  await createClass(c, await vscodeClass(vscode));
  await createClass(c, jupyterClass(jupyter));
  op = await startOperator(["--lease-name=ide-browser"], "ide-browser");
  browser = await launchBrowser({ parentDir: stateDir() });
});

after(async () => {
  await browser?.close();
  await op?.stop();
  await ns?.drop();
  await deleteClass(c, vscode);
  await deleteClass(c, jupyter);
  await deleteClass(c, demoVscode);
  await git?.close();
});

/** scripts/demo-sample committed into a bare `sample.git` under a new directory, as scripts/demo.sh does. */
function sampleRepository(): string {
  const root = mkdtempSync(join(stateDir(), "demo-git-"));
  const bare = join(root, "sample.git");
  const env = { PATH: process.env.PATH, HOME: root, GIT_CONFIG_NOSYSTEM: "1" };
  const sample = join(import.meta.dirname, "../../scripts/demo-sample");
  const g = (...args: string[]) =>
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", ...args], { env, stdio: "ignore" });
  g("init", "-q", "--bare", "-b", "main", bare);
  g(`--git-dir=${bare}`, `--work-tree=${sample}`, "add", "-A");
  g(`--git-dir=${bare}`, `--work-tree=${sample}`, "commit", "-qm", "sample");
  return root;
}

/** Waits for the workspace to be Ready and returns its pod's IP. */
async function readyPodIP(name: string): Promise<string> {
  const ws = await waitWorkspace(c, ns.name, name, "Ready", isReady, 180_000);
  const pod = await c.core.readNamespacedPod({ name: ws.status!.children!.pod!, namespace: ns.name });
  assert.match(pod.status?.podIP ?? "", /^198\.18\./);
  return pod.status!.podIP!;
}

test("a vscode Workspace: Chromium opens code-server at the pod, the workbench loads, its WebSocket is connected", async () => {
  await createWorkspace(c, workspace(ns.name, "code", { className: vscode }));
  const ip = await readyPodIP("code");
  const file = await writeToVolume(c, ns.name, "code", "hello-portico.txt", "written into the volume\n");
  await checkVSCode(browser, `http://${ip}:8080/`, file, "ide-vscode-direct");
});

test("a jupyter Workspace: Chromium opens Jupyter at the pod, starts a kernel, runs 1+1 and gets 2", async () => {
  await createWorkspace(c, workspace(ns.name, "nb", { className: jupyter }));
  const ip = await readyPodIP("nb");
  await checkJupyter(browser, `http://${ip}:8888/`, "ide-jupyter-direct");
});

test("the demo's VS Code: the workspace clones the sample project from a git server, and code-server opens the clone without the workspace-trust prompt", async () => {
  git = await startGitHttpServer({ root: sampleRepository(), host: GIT_HOST, port: 8080 });
  const url = `${git.url}/sample.git`;
  await createClass(c, demoClass(await vscodeClass(demoVscode), url));
  await createWorkspace(c, workspace(ns.name, "sample", { className: demoVscode, repository: { url } }));
  const ip = await readyPodIP("sample");
  assert.ok(
    git.requests.some((r) => r.url.startsWith("/sample.git/info/refs")),
    "cloned from the git server",
  );
  await checkVSCodeOpensClone(
    browser,
    `http://${ip}:8080/`,
    "sample",
    { name: "primes.py", content: "def primes_below" },
    "ide-vscode-demo",
  );
});
