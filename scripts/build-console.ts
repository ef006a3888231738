/**
 * `npm run build:console`: bundles the console app (proxy/console/app/) with esbuild into
 * proxy/console/dist/ — index.html plus a content-hashed JS and CSS, everything the browser loads,
 * nothing fetched from elsewhere at run time. The proxy (proxy/console/assets.ts) serves it.
 *
 *   node scripts/build-console.ts [--out=DIR]
 */
import { build } from "esbuild";
import { mkdir, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const app = join(repo, "proxy/console/app");

/** Builds into `out` (emptied first); the files written, with their sizes. */
export async function buildConsole(out: string): Promise<{ file: string; bytes: number; gzip: number }[]> {
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const result = await build({
    entryPoints: [join(app, "main.ts")],
    bundle: true,
    format: "esm",
    target: ["chrome110", "firefox115", "safari16"],
    minify: true,
    legalComments: "eof",
    splitting: true, // the terminal (xterm.js) is a chunk of its own, loaded on first use
    entryNames: "app-[hash]",
    chunkNames: "chunk-[hash]",
    assetNames: "[name]-[hash]",
    outdir: out,
    metafile: true,
    logLevel: "warning",
    tsconfig: join(app, "tsconfig.json"),
  });
  const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
  const entry = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint);
  const js = entry && basename(entry[0]);
  const css = entry?.[1].cssBundle && basename(entry[1].cssBundle);
  if (!js || !css)
    throw new Error(`esbuild wrote ${outputs.join(", ")}: expected an entry .js with its .css`);
  const html = (await readFile(join(app, "index.html"), "utf8"))
    .replace("__JS__", `/_console/${js}`)
    .replace("__CSS__", `/_console/${css}`);
  await writeFile(join(out, "index.html"), html);
  const files = await readdir(out);
  return Promise.all(
    files.sort().map(async (file) => {
      const body = await readFile(join(out, file));
      return { file, bytes: (await stat(join(out, file))).size, gzip: gzipSync(body, { level: 9 }).length };
    }),
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const outArg = process.argv.find((a) => a.startsWith("--out="));
  const out = outArg ? outArg.slice("--out=".length) : join(repo, "proxy/console/dist");
  const files = await buildConsole(out);
  for (const f of files)
    console.log(
      `${f.file.padEnd(28)} ${String(f.bytes).padStart(8)} B  ${String(f.gzip).padStart(7)} B gzip`,
    );
  const sum = (k: "bytes" | "gzip") => files.reduce((n, f) => n + f[k], 0);
  console.log(
    `${"total".padEnd(28)} ${String(sum("bytes")).padStart(8)} B  ${String(sum("gzip")).padStart(7)} B gzip  → ${out}`,
  );
}
