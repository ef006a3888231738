import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { gunzipSync } from "node:zlib";
import type { Identity } from "../auth/identity.ts";
import type { RequestCtx } from "../surfaces/surface.ts";
import { consoleAssets, contentSecurityPolicy } from "./assets.ts";

const quiet = { warn: () => undefined, info: () => undefined };
const JS = "export const x = 1;\n".repeat(200);
let dir: string;
let secret: string;

/** Serves `endpoint` as the console surface hands it requests: the raw path, unnormalized. */
async function serve(endpoint: ReturnType<typeof consoleAssets>): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const [path, query = ""] = (req.url ?? "").split("?");
    endpoint(req, res, { path: path!, query, segments: [] }, {} as Identity, {} as RequestCtx);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

interface Got {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A raw request: the path goes on the wire exactly as given (fetch would normalize `..`). */
function get(url: string, path: string, opts: { method?: string; gzip?: boolean } = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/`,
      { method: opts.method ?? "GET", path, headers: opts.gzip ? { "accept-encoding": "gzip" } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

let site: { url: string; server: Server };

before(async () => {
  const root = await mkdtemp(join(tmpdir(), "console-assets-"));
  dir = join(root, "dist");
  await mkdir(dir);
  secret = join(root, "secret.txt");
  await writeFile(secret, "not for the browser");
  await writeFile(
    join(dir, "index.html"),
    '<meta name="portico-style-nonce" content="__STYLE_NONCE__"><script type="module" src="/_console/app-ABC123.js"></script>',
  );
  await writeFile(join(dir, "app-ABC123.js"), JS);
  await writeFile(join(dir, "app-ABC123.css"), "body{}");
  await writeFile(join(dir, ".env"), "SECRET=1");
  await mkdir(join(dir, "sub.d"));
  await writeFile(join(dir, "sub.d", "x.js"), "x");
  await symlink(secret, join(dir, "link.txt"));
  site = await serve(consoleAssets(dir, quiet));
});
after(async () => {
  site.server.close();
  await rm(join(dir, ".."), { recursive: true, force: true });
});

test("/ and /index.html: the page, not cached, with a fresh style nonce in the page and the CSP", async () => {
  const a = await get(site.url, "/");
  const b = await get(site.url, "/index.html");
  for (const r of [a, b]) {
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], "text/html; charset=utf-8");
    assert.equal(r.headers["cache-control"], "no-cache");
    assert.equal(r.headers["x-content-type-options"], "nosniff");
    assert.equal(r.headers["referrer-policy"], "no-referrer");
    const nonce = /content="([^"]+)"/.exec(r.body.toString())![1]!;
    assert.notEqual(nonce, "__STYLE_NONCE__");
    assert.equal(r.headers["content-security-policy"], contentSecurityPolicy(nonce));
  }
  assert.notEqual(
    a.headers["content-security-policy"],
    b.headers["content-security-policy"],
    "a nonce per response",
  );
  assert.match(
    String(a.headers["content-security-policy"]),
    /^default-src 'self'; script-src 'self'; style-src 'self' 'nonce-[A-Za-z0-9+/=]+'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'$/,
  );
});

test("a hashed file: immutable, its type, gzip when asked, HEAD without a body", async () => {
  const plain = await get(site.url, "/_console/app-ABC123.js");
  assert.equal(plain.status, 200);
  assert.equal(plain.body.toString(), JS);
  assert.equal(plain.headers["content-type"], "text/javascript; charset=utf-8");
  assert.equal(plain.headers["cache-control"], "public, max-age=31536000, immutable");
  assert.equal(plain.headers["x-content-type-options"], "nosniff");
  assert.ok(plain.headers["content-security-policy"]);
  const gz = await get(site.url, "/_console/app-ABC123.js", { gzip: true });
  assert.equal(gz.headers["content-encoding"], "gzip");
  assert.ok(gz.body.length < JS.length);
  assert.equal(gunzipSync(gz.body).toString(), JS);
  const head = await get(site.url, "/_console/app-ABC123.css", { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers["content-length"], "6");
  assert.equal(head.body.length, 0);
});

test("nothing outside the bundle: traversal, listings, hidden files, directories, symlinks → 404", async () => {
  const attempts = [
    "/_console/",
    "/_console",
    "/_console/../secret.txt",
    "/_console/..%2fsecret.txt",
    "/_console/%2e%2e/secret.txt",
    "/_console/%2e%2e%2fsecret.txt",
    "/_console/..\\secret.txt",
    "/_console/....//secret.txt",
    "/_console//etc/passwd",
    "/_console/sub.d",
    "/_console/sub.d/x.js",
    "/_console/.env",
    "/_console/link.txt",
    "/_console/index.html",
    "/_console/app-ABC123.js/",
    "/_console/app-ABC123.js%00.png",
    "/_console/APP-abc123.js",
    "/_console/app-ABC123.js.map",
    "/_console/./app-ABC123.js",
  ];
  for (const path of attempts) {
    const r = await get(site.url, path);
    assert.equal(r.status, 404, path);
    assert.equal(r.headers["content-type"], "application/json", path);
    assert.equal(JSON.parse(r.body.toString()).error, "not_found", path);
    assert.doesNotMatch(r.body.toString(), /not for the browser|SECRET/, path);
  }
});

test("without a bundle: 503 saying what to run, on every path", async () => {
  const warned: string[] = [];
  const none = await serve(
    consoleAssets(join(dir, "nope"), { warn: (m) => warned.push(m), info: () => undefined }),
  );
  try {
    for (const path of ["/", "/index.html", "/_console/app-ABC123.js"]) {
      const r = await get(none.url, path);
      assert.equal(r.status, 503, path);
      assert.match(r.body.toString(), /npm run build:console/);
      assert.equal(r.headers["cache-control"], "no-store");
    }
    assert.equal(warned.length, 1, "said once, at start");
  } finally {
    none.server.close();
  }
});

test("a directory without index.html is no bundle", async () => {
  const half = await serve(consoleAssets(join(dir, "sub.d"), quiet));
  try {
    assert.equal((await get(half.url, "/")).status, 503);
  } finally {
    half.server.close();
  }
});
