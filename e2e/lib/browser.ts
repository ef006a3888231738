/**
 * A real browser for end-to-end tests: Debian's Chromium driven by playwright-core. Tests run
 * inside the cluster's network namespace, so the browser does too and reaches pod IPs directly;
 * host-mode names (`{name}--{ns}.portico.test`) resolve through `--host-resolver-rules`, never DNS.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page, type WebSocket } from "playwright-core";

/** Debian's chromium package; playwright-core never downloads a browser of its own here. */
export const CHROMIUM = "/usr/bin/chromium";

/**
 * Flags for a closed machine: headless, no sandbox (root), and no background connections (they are
 * refused here, many at a time, and Chromium keeps retrying them).
 */
export const CHROMIUM_FLAGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface BrowserOptions {
  /** Resolve `{domain}` and every `*.{domain}` name to this IP (a proxy in host mode), e.g. `{ "portico.test": "198.18.0.30" }`. */
  hostMap?: Record<string, string>;
  /** Where the fresh profile goes (default: a new directory under the OS temp dir); removed on close. */
  parentDir?: string;
}

export interface TestBrowser {
  context: BrowserContext;
  /** The fresh profile directory (`--user-data-dir`). */
  profile: string;
  /** A new tab that records its WebSockets (see `sockets`). */
  newPage(): Promise<RecordedPage>;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/** What a page's WebSocket did, as the browser saw it. */
export interface SocketRecord {
  url: string;
  framesReceived: number;
  framesSent: number;
  closed: boolean;
  error?: string;
}

export interface RecordedPage {
  page: Page;
  sockets: SocketRecord[];
}

/** The `--host-resolver-rules` value for a host map: each domain and its subdomains, `MAP *.a <ip>,MAP a <ip>`. */
export function hostResolverRules(hostMap: Record<string, string>): string {
  return Object.entries(hostMap)
    .map(([domain, ip]) => `MAP *.${domain} ${ip},MAP ${domain} ${ip}`)
    .join(",");
}

/**
 * Launches Chromium with a fresh profile and one context. Playwright passes the profile as
 * `--user-data-dir` itself (it refuses that flag in `args`), and adds `--headless` for `headless: true`.
 */
export async function launchBrowser(opts: BrowserOptions = {}): Promise<TestBrowser> {
  const profile = await mkdtemp(join(opts.parentDir ?? tmpdir(), "chromium-"));
  const args = CHROMIUM_FLAGS.filter((f) => f !== "--headless");
  if (opts.hostMap && Object.keys(opts.hostMap).length)
    args.push(`--host-resolver-rules=${hostResolverRules(opts.hostMap)}`);
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args,
      headless: true,
      timeout: 60_000,
      viewport: { width: 1280, height: 800 },
    });
  } catch (err) {
    await rm(profile, { recursive: true, force: true });
    throw err;
  }
  return {
    context,
    profile,
    async newPage() {
      const page = await context.newPage();
      const sockets: SocketRecord[] = [];
      page.on("websocket", (ws: WebSocket) => {
        const rec: SocketRecord = { url: ws.url(), framesReceived: 0, framesSent: 0, closed: false };
        sockets.push(rec);
        ws.on("framereceived", () => rec.framesReceived++);
        ws.on("framesent", () => rec.framesSent++);
        ws.on("socketerror", (e) => (rec.error = String(e)));
        ws.on("close", () => (rec.closed = true));
      });
      return { page, sockets };
    },
    async close() {
      await context.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}
