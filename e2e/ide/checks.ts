/**
 * What a person would check in a real IDE, done in real Chromium (e2e/lib/browser.ts): VS Code's
 * workbench connected to its server, a Jupyter notebook running code on a real kernel. Shared by the
 * ide-*.test.ts files, which open the same IDEs directly at the pod and through the proxy.
 */
import assert from "node:assert/strict";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Page } from "playwright-core";
import { parse } from "yaml";
import type { WorkspaceClass } from "../../crds/types.ts";
import type { RecordedPage, TestBrowser } from "../lib/browser.ts";
import { eventually, uniqueName, type Clients } from "../lib/kube.ts";
import { stateDir } from "../lib/operator.ts";
import { getWorkspace } from "../lib/workspaces.ts";

const REPO = resolve(import.meta.dirname, "../..");

/** The code-server binary (cached); installs it first when absent (minutes; deps.sh does it ahead). */
export const INSTALL_CODE_SERVER = join(REPO, "e2e/ide/install-code-server.sh");

/** The vscode class exactly as the chart ships it (charts/portico/files/workspaceclasses), under a name of the test's own. */
export async function vscodeClass(name: string): Promise<WorkspaceClass> {
  const cls = parse(
    await readFile(join(REPO, "charts/portico/files/workspaceclasses/vscode.yaml"), "utf8"),
  ) as WorkspaceClass;
  return { ...cls, metadata: { name } };
}

/** Writes a file into a workspace's volume (the local directory behind its PersistentVolume). */
export async function writeToVolume(
  c: Clients,
  namespace: string,
  name: string,
  file: string,
  content: string,
): Promise<{ name: string; content: string }> {
  const ws = await getWorkspace(c, namespace, name);
  const pvc = await c.core.readNamespacedPersistentVolumeClaim({
    name: ws.status!.children!.pvc!,
    namespace,
  });
  const pv = await c.core.readPersistentVolume({ name: pvc.spec!.volumeName! });
  await writeFile(join(pv.spec!.hostPath!.path, file), content);
  return { name: file, content: content.trim() };
}

/**
 * Saves a screenshot in the cluster's state directory, and in $PORTICO_SCREENSHOTS when that is set
 * (the state directory goes away with the cluster).
 */
export async function screenshot(p: RecordedPage, name: string): Promise<string> {
  const file = join(stateDir(), `${name}.png`);
  await p.page.screenshot({ path: file });
  const keep = process.env.PORTICO_SCREENSHOTS;
  if (keep) {
    await mkdir(keep, { recursive: true });
    await copyFile(file, join(keep, `${name}.png`));
  }
  console.log(`# screenshot: ${file}`);
  return file;
}

/**
 * Opens VS Code at `url` and checks it really works: the workbench renders, its server WebSocket
 * carries frames both ways and stays open, the user trusts the folder (the first-run dialog), the
 * explorer lists the workspace volume and a file from it opens with its content (both read from the
 * server over that socket), and no dialog says the connection was lost.
 */
export async function checkVSCode(
  b: TestBrowser,
  url: string,
  file: { name: string; content: string },
  shot: string,
): Promise<void> {
  const p = await b.newPage();
  try {
    const res = await p.page.goto(url, { waitUntil: "domcontentloaded", timeout: 60_000 });
    assert.equal(res?.status(), 200, `GET ${url}`);
    await p.page.waitForSelector(".monaco-workbench", { timeout: 90_000 });
    const live = await eventually(
      "a VS Code server WebSocket with frames both ways",
      async () => p.sockets.find((s) => s.framesReceived > 0 && s.framesSent > 0 && !s.closed),
      60_000,
    );
    assert.equal(new URL(live.url).host, new URL(url).host, "the socket goes to the page's origin");

    // First open of a folder: VS Code asks whether to trust it; a user says yes.
    await p.page.getByRole("button", { name: "Yes, I trust the authors" }).click({ timeout: 60_000 });
    await p.page.getByText("Restricted Mode").waitFor({ state: "hidden", timeout: 30_000 });

    // The explorer's rows and the file's text come from the server's file system over the socket.
    await p.page
      .locator(".explorer-folders-view .monaco-list-row", { hasText: file.name })
      .click({ timeout: 60_000 });
    await p.page
      .locator(".editor-instance .view-lines", { hasText: file.content })
      .waitFor({ timeout: 30_000 });

    // Stays connected a little longer: no close, no reconnect dialog.
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(live.closed, false, `socket ${live.url} stays open`);
    assert.equal(live.error, undefined);
    const dialogs = await p.page.locator(".monaco-dialog-box").allInnerTexts();
    assert.ok(
      !dialogs.some((t) => /reconnect|connection|disconnected/i.test(t)),
      `no connection dialog: ${JSON.stringify(dialogs)}`,
    );
    await screenshot(p, shot);
  } finally {
    await p.page.close();
  }
}

/**
 * Opens VS Code at `url` as the demo's class starts it (scripts/demo-objects.ts) and checks that it
 * opened the clone `folder` (its name in the window title and the explorer; `file` from it listed and
 * opened with its content) with workspace trust off: code-server's workbench configuration says
 * `enableWorkspaceTrust: false` (what `--disable-workspace-trust` sets), and once the file is open no
 * trust dialog and no Restricted Mode are showing.
 */
export async function checkVSCodeOpensClone(
  b: TestBrowser,
  url: string,
  folder: string,
  file: { name: string; content: string },
  shot: string,
): Promise<void> {
  const p = await b.newPage();
  try {
    const res = await p.page.goto(url, { waitUntil: "domcontentloaded", timeout: 60_000 });
    assert.equal(res?.status(), 200, `GET ${url}`);
    const opened = new URL(p.page.url()).searchParams.get("folder") ?? "";
    assert.match(opened, new RegExp(`/${folder}$`), `code-server redirected to ?folder=…/${folder}`);
    const settings = await p.page
      .locator("#vscode-workbench-web-configuration")
      .getAttribute("data-settings", { timeout: 30_000 });
    assert.equal(
      (JSON.parse(settings ?? "{}") as { enableWorkspaceTrust?: boolean }).enableWorkspaceTrust,
      false,
      "workspace trust is off",
    );
    await p.page.waitForSelector(".monaco-workbench", { timeout: 90_000 });
    await p.page
      .locator(".explorer-folders-view .monaco-list-row", { hasText: file.name })
      .click({ timeout: 60_000 });
    await p.page
      .locator(".editor-instance .view-lines", { hasText: file.content })
      .waitFor({ timeout: 30_000 });
    assert.match(await p.page.title(), new RegExp(`\\b${folder}\\b`), "the window names the folder");
    assert.equal(
      await p.page.getByRole("button", { name: "Yes, I trust the authors" }).count(),
      0,
      "no workspace-trust dialog",
    );
    assert.equal(await p.page.getByText("Restricted Mode").count(), 0, "not in Restricted Mode");
    await screenshot(p, shot);
  } finally {
    await p.page.close();
  }
}

/**
 * Creates an empty Python 3 notebook `name` under Jupyter's `base` with a fetch from `page` (the
 * page's own origin and cookies: the request a user's browser makes); the answer's status (201).
 */
export async function putNotebookFromPage(page: Page, base: string, name: string): Promise<number> {
  return page.evaluate(
    async ({ url, body }) =>
      (await fetch(url, { method: "PUT", headers: { "content-type": "application/json" }, body })).status,
    {
      url: new URL(`api/contents/${name}`, base).href,
      body: JSON.stringify({
        type: "notebook",
        format: "json",
        content: {
          cells: [],
          metadata: { kernelspec: { name: "python3", display_name: "Python 3", language: "python" } },
          nbformat: 4,
          nbformat_minor: 5,
        },
      }),
    },
  );
}

/**
 * Opens the classic notebook UI (nbclassic on Jupyter Server) under `base` (ends with `/`), makes a
 * notebook from the page (its own origin: the same request a user's browser makes), runs `1+1` in its
 * first cell on a real kernel (over the kernel's WebSocket) and reads `2` from the output.
 */
export async function checkJupyter(b: TestBrowser, base: string, shot: string): Promise<void> {
  const name = `${uniqueName("nb")}.ipynb`;
  const p = await b.newPage();
  try {
    const tree = await p.page.goto(new URL("tree", base).href, { waitUntil: "domcontentloaded" });
    assert.equal(tree?.status(), 200, "the notebook file browser");
    assert.equal(await putNotebookFromPage(p.page, base, name), 201, `PUT api/contents/${name}`);
    await p.page.reload({ waitUntil: "domcontentloaded" });
    await p.page.waitForSelector(`#notebook_list a:has-text("${name}")`, { timeout: 30_000 });

    await p.page.goto(new URL(`notebooks/${name}`, base).href, { waitUntil: "domcontentloaded" });
    await p.page.waitForSelector("#kernel_indicator_icon.kernel_idle_icon", { timeout: 60_000 });
    await p.page.click(".cell .CodeMirror");
    await p.page.keyboard.type("1+1");
    await p.page.keyboard.press("Shift+Enter");
    const out = p.page.locator(".cell .output_result pre").first();
    await out.waitFor({ timeout: 30_000 });
    assert.equal((await out.innerText()).trim(), "2");
    const kernelSocket = p.sockets.find((s) => /\/api\/kernels\/[^/]+\/channels/.test(s.url));
    assert.ok(kernelSocket, `the kernel's WebSocket: ${JSON.stringify(p.sockets.map((s) => s.url))}`);
    assert.equal(new URL(kernelSocket.url).host, new URL(base).host, "the socket goes to the page's origin");
    assert.ok(kernelSocket.framesReceived > 0 && kernelSocket.framesSent > 0, "frames both ways");
    await screenshot(p, shot);
  } finally {
    await p.page.close();
  }
}
