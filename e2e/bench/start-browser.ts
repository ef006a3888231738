/**
 * "Usable in Chromium" for `npm run bench:start` (start.ts), timed: Debian's Chromium (the browser
 * the e2e tests drive, e2e/lib/browser.ts), one fresh browser context per load, so no load finds
 * another's cache.
 *
 * - VS Code: the workbench (`.monaco-workbench`) is there and its explorer lists the workspace
 *   folder's entries (read from the server over the workbench's WebSocket).
 * - Jupyter (the notebook UI on Jupyter Server, as e2e/ide/checks.ts drives it): the file browser
 *   (`tree`) loads, a notebook is made from the page (`PUT api/contents`, the request its "New"
 *   menu sends), opened, its kernel comes up idle, `1+1` typed into the first cell and run, and `2`
 *   shows in the output (over the kernel's WebSocket).
 */
import { chromium, type Browser, type Page } from "playwright-core";
import { CHROMIUM, CHROMIUM_FLAGS, hostResolverRules } from "../lib/browser.ts";
import { putNotebookFromPage } from "../ide/checks.ts";
import { uniqueName } from "../lib/kube.ts";

export type Ide = "vscode" | "jupyter";

export interface Load {
  /** The main-frame request of the IDE's first page (not the proxy's waiting page) was sent. */
  ideNav: number;
  /** VS Code: the workbench is there; Jupyter: the file browser lists files. */
  page: number;
  /** Usable: VS Code's explorer lists the folder; Jupyter's kernel answered `1+1` with 2. */
  usable: number;
  /** How many times the proxy's waiting page was shown (before its script reloaded). */
  waitingPages: number;
  /** Opens that found no workspace yet (404 from the proxy) and were opened again, as a user would. */
  reopened: number;
  /** Requests the page made until usable, and how many failed (a check that both paths load alike). */
  requests: number;
  failed: number;
  /** The page's own GET requests (same origin), in order: what replay.ts fetches again. */
  gets: string[];
}

export async function launch(hostMap: Record<string, string>): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      ...CHROMIUM_FLAGS.filter((f) => f !== "--headless"),
      `--host-resolver-rules=${hostResolverRules(hostMap)}`,
    ],
    headless: true,
    timeout: 60_000,
  });
}

/** Where the IDE's first page is under a workspace's base URL (ends with `/`). */
export const entryPath = (ide: Ide) => (ide === "jupyter" ? "tree" : "");

/** The proxy's own pages (waiting 503, stopped 404) say so in a header-free way: their script. */
const PROXY_PAGE = /__portico\//;

/**
 * Opens `base` (+ the IDE's entry path) in a fresh context and waits until the IDE is usable;
 * `t0` is taken just before the open. Through the proxy a not-yet-ready workspace shows the waiting
 * page, whose script reloads it once the proxy routes the IDE.
 */
export async function openUsable(
  b: Browser,
  ide: Ide,
  base: string,
  timeoutMs: number,
): Promise<Load & { t0: number }> {
  const ctx = await b.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const out = { waitingPages: 0, reopened: 0, requests: 0, failed: 0, gets: [] } as unknown as Load & {
    t0: number;
  };
  page.on("request", (req) => {
    out.requests++;
    const u = new URL(req.url());
    if (req.method() === "GET" && u.protocol === "http:" && u.origin === new URL(base).origin)
      out.gets.push(req.url());
  });
  page.on("requestfailed", () => out.failed++);
  page.on("response", (res) => {
    const req = res.request();
    if (!req.isNavigationRequest() || res.frame() !== page.mainFrame()) return;
    const status = res.status();
    if (status === 503 || status === 404) return;
    if (out.ideNav === undefined) {
      const start = req.timing().startTime;
      out.ideNav = start > 0 ? Math.round(start) : Date.now();
    }
  });
  try {
    const url = new URL(entryPath(ide), base).href;
    out.t0 = Date.now();
    for (;;) {
      const res = await page.goto(url, { waitUntil: "domcontentloaded", timeout: timeoutMs });
      const html = res?.status() === 404 || res?.status() === 503 ? await res.text() : "";
      if (res?.status() === 503 && PROXY_PAGE.test(html)) out.waitingPages++;
      // The stopped page (a wake refused, or a workspace stopped by its user): nothing will reload it.
      if (res?.status() === 404 && PROXY_PAGE.test(html))
        throw new Error(
          `${url}: the proxy's stopped page: ${html
            .replace(/<[^>]*>/g, " ")
            .replace(/\s+/g, " ")
            .slice(0, 300)}`,
        );
      // A workspace the proxy does not know yet (its watch has not delivered it): open it again.
      if (res?.status() === 404 && !PROXY_PAGE.test(html) && Date.now() - out.t0 < 30_000) {
        out.reopened++;
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      break;
    }
    if (ide === "vscode") await vscodeUsable(page, out, timeoutMs);
    else await jupyterUsable(page, base, out, timeoutMs);
    return out;
  } finally {
    await ctx.close().catch(() => undefined);
  }
}

async function vscodeUsable(page: Page, out: Load, timeoutMs: number): Promise<void> {
  await page.waitForSelector(".monaco-workbench", { timeout: timeoutMs });
  out.page = Date.now();
  await page.locator(".explorer-folders-view .monaco-list-row").first().waitFor({ timeout: timeoutMs });
  out.usable = Date.now();
}

async function jupyterUsable(page: Page, base: string, out: Load, timeoutMs: number): Promise<void> {
  await page.waitForSelector("#notebook_list", { timeout: timeoutMs });
  out.page = Date.now();
  const name = `${uniqueName("nb")}.ipynb`;
  const status = await putNotebookFromPage(page, base, name);
  if (status !== 201) throw new Error(`PUT api/contents/${name}: ${status}`);
  await page.goto(new URL(`notebooks/${name}`, base).href, {
    waitUntil: "domcontentloaded",
    timeout: timeoutMs,
  });
  await page.waitForSelector("#kernel_indicator_icon.kernel_idle_icon", { timeout: timeoutMs });
  await page.click(".cell .CodeMirror");
  await page.keyboard.type("1+1");
  await page.keyboard.press("Shift+Enter");
  const result = page.locator(".cell .output_result pre").first();
  await result.waitFor({ timeout: timeoutMs });
  const text = (await result.innerText()).trim();
  if (text !== "2") throw new Error(`1+1 gave ${JSON.stringify(text)}`);
  out.usable = Date.now();
}
