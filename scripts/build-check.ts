/**
 * Checking the Dockerfiles without Docker (scripts/images.test.ts): a small Dockerfile parser, the
 * `.dockerignore` matching rules, and a stand-in build that follows a Dockerfile's stages on this
 * machine — each stage a directory, COPY as hard links from the context or an earlier stage, and the
 * few RUN commands the Dockerfiles use done the local way (no network, no `npm ci`: the repository's
 * own node_modules stands in for it). What it produces is the final stage's file tree and how the
 * image starts it (WORKDIR, ENV, USER, ENTRYPOINT).
 */
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
} from "node:fs";
import { dirname, join, posix, relative, sep } from "node:path";

/** One instruction: `COPY --from=build /src/dist ./dist` is op COPY, flags {from: build}, args [src, dest]. */
export interface Instruction {
  op: string;
  flags: Record<string, string>;
  /** Exec form (`["node", "x.js"]`) as given; shell form split on whitespace (RUN keeps `text` too). */
  args: string[];
  /** Everything after the flags, as written (continuations joined). */
  text: string;
  /** `["…"]` JSON exec form. */
  exec: boolean;
  line: number;
}

export interface Stage {
  index: number;
  image: string;
  name?: string;
  instructions: Instruction[];
}

/** Parses a Dockerfile into stages: comments, `\` continuations, `--flag=value`, exec and shell forms. */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    while (line.endsWith("\\") && i + 1 < lines.length) {
      const next = lines[++i]!.trim();
      line = line.slice(0, -1).trimEnd() + (next.startsWith("#") ? "" : " " + next);
    }
    const m = /^(\S+)\s*(.*)$/.exec(line)!;
    const op = m[1]!.toUpperCase();
    let rest = m[2]!;
    const flags: Record<string, string> = {};
    for (let f; (f = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest)); rest = rest.slice(f[0].length))
      flags[f[1]!] = f[2] ?? "true";
    const exec = rest.startsWith("[");
    const args = exec ? (JSON.parse(rest) as string[]) : rest.split(/\s+/).filter(Boolean);
    const ins: Instruction = { op, flags, args, text: rest, exec, line: start };
    if (op === "FROM") {
      const [image, as, name] = args;
      if (!image || (as !== undefined && (as.toUpperCase() !== "AS" || !name)))
        throw new Error(`line ${start}: FROM image [AS name]`);
      stages.push({ index: stages.length, image, ...(name ? { name } : {}), instructions: [ins] });
    } else if (op === "ARG" && stages.length === 0) {
      throw new Error(`line ${start}: ARG before FROM is not supported by this parser`);
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`line ${start}: ${op} before FROM`);
      stage.instructions.push(ins);
    }
  }
  if (!stages.length) throw new Error("no FROM");
  return stages;
}

/** The stage a `--from=` names (by name or index). */
export function stageNamed(stages: readonly Stage[], ref: string): Stage {
  const s = stages.find((x) => x.name === ref || String(x.index) === ref);
  if (!s) throw new Error(`no stage ${ref}`);
  return s;
}

/** A stage's environment: its ENV instructions, `K=V …` or the old `K V` form. */
export function stageEnv(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of stage.instructions.filter((x) => x.op === "ENV")) {
    if (!i.args[0]!.includes("=")) env[i.args[0]!] = i.args.slice(1).join(" ");
    else
      for (const kv of i.args) {
        const eq = kv.indexOf("=");
        env[kv.slice(0, eq)] = kv.slice(eq + 1).replace(/^"(.*)"$/, "$1");
      }
  }
  return env;
}

/** The last value of a single-valued instruction (USER, ENTRYPOINT, …) in a stage. */
export function last(stage: Stage, op: string): Instruction | undefined {
  return stage.instructions.filter((x) => x.op === op).at(-1);
}

/**
 * `.dockerignore` as Docker reads it: one pattern per line relative to the context root, `*` and `?`
 * within a path segment, `**` across segments, `!` re-includes, the last matching line wins, and a
 * pattern that matches a directory matches everything under it. Returns "is this path left out".
 */
export function dockerignore(text: string): (path: string) => boolean {
  const patterns = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => {
      const negate = l.startsWith("!");
      const p = posix.normalize((negate ? l.slice(1) : l).trim()).replace(/^\/+|\/+$/g, "");
      return { negate, re: globToRegExp(p) };
    });
  return (path) => {
    const parts = posix.normalize(path).split("/");
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
    let excluded = false;
    for (const p of patterns) if (candidates.some((c) => p.re.test(c))) excluded = !p.negate;
    return excluded;
  };
}

function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*" && glob[i + 1] === "*") {
      // `**/` is zero or more whole directories; a trailing `**` is anything.
      const slash = glob[i + 2] === "/";
      re += slash ? "(?:.*/)?" : ".*";
      i += slash ? 2 : 1;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** Package directories `npm ci --omit=dev` installs, relative to the repository (`node_modules/…`). */
export function productionPackages(repo: string): string[] {
  const out = execFileSync("npm", ["ls", "--omit=dev", "--all", "--parseable"], {
    cwd: repo,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  return out
    .split("\n")
    .filter(Boolean)
    .map((p) => relative(repo, p).split(sep).join("/"))
    .filter((p) => p.startsWith("node_modules/"));
}

/** What the final stage gives a container: its files under `root`, and how it starts. */
export interface Image {
  root: string;
  workdir: string;
  env: Record<string, string>;
  user: string | undefined;
  entrypoint: string[];
}

export interface BuildOptions {
  repo: string;
  stages: readonly Stage[];
  /** Left out of the context (from `dockerignore`). */
  ignored: (path: string) => boolean;
  /** An empty directory: each stage gets `<into>/stage-<n>` as its `/`. */
  into: string;
  /** From `productionPackages`: what `npm ci --omit=dev` would install. */
  prodPackages: readonly string[];
}

/**
 * Follows every stage of a parsed Dockerfile on this machine. RUN understands only what the
 * Dockerfiles use — `npm ci` (all dependencies: a link to the repository's node_modules),
 * `npm ci --omit=dev` (exactly the production packages, hard-linked), `npm run build` and
 * `npm run build:console` (run for real) —
 * and throws on anything else, so a new RUN line must be taught here before the check passes.
 */
export function emulateBuild(o: BuildOptions): Image {
  const roots: string[] = [];
  let image: Image | undefined;
  for (const stage of o.stages) {
    const root = join(o.into, `stage-${stage.index}`);
    mkdirSync(root, { recursive: true });
    roots.push(root);
    let workdir = "/";
    const at = (p: string) => join(root, posix.resolve(workdir, p));
    for (const ins of stage.instructions) {
      const where = `line ${ins.line}: ${ins.op} ${ins.text}`;
      switch (ins.op) {
        case "WORKDIR":
          workdir = posix.resolve(workdir, ins.args[0]!);
          mkdirSync(at("."), { recursive: true });
          break;
        case "COPY": {
          const srcs = ins.args.slice(0, -1);
          const dest = ins.args.at(-1)!;
          const from = ins.flags.from;
          const intoDir = dest.endsWith("/") || srcs.length > 1;
          for (const src of srcs) {
            let path: string;
            if (from !== undefined) {
              if (!src.startsWith("/")) throw new Error(`${where}: give --from sources as absolute paths`);
              path = join(roots[stageNamed(o.stages, from).index]!, src);
            } else {
              const rel = posix.normalize(src).replace(/\/+$/, "");
              if (rel.startsWith("..") || rel.startsWith("/"))
                throw new Error(`${where}: outside the context`);
              if (o.ignored(rel)) throw new Error(`${where}: ${rel} is left out by .dockerignore`);
              path = join(o.repo, rel);
            }
            if (!existsSync(path)) throw new Error(`${where}: ${src} does not exist`);
            // Docker copies a directory's contents, a file as itself (into dest/ when dest is a directory).
            const target =
              statSync(path).isDirectory() || !intoDir ? at(dest) : at(posix.join(dest, posix.basename(src)));
            linkTree(
              path,
              target,
              (p) => from !== undefined || !o.ignored(relative(o.repo, p).split(sep).join("/")),
            );
          }
          break;
        }
        case "RUN":
          run(ins, at("."), o, where);
          break;
        case "FROM":
          if (o.stages.some((s) => s.name === stage.image))
            throw new Error(`${where}: FROM an earlier stage is not supported here`);
          break;
        case "USER":
        case "ENV":
        case "ENTRYPOINT":
        case "CMD":
        case "EXPOSE":
        case "LABEL":
        case "STOPSIGNAL":
          break;
        default:
          throw new Error(`${where}: not supported by the build check`);
      }
    }
    const entry = last(stage, "ENTRYPOINT");
    image = {
      root,
      workdir,
      env: stageEnv(stage),
      user: last(stage, "USER")?.args[0],
      entrypoint: entry?.exec ? entry.args : [],
    };
  }
  return image!;
}

function run(ins: Instruction, cwd: string, o: BuildOptions, where: string): void {
  const [tool, verb, ...rest] = ins.args;
  if (tool === "npm" && verb === "ci") {
    for (const f of ["package.json", "package-lock.json"])
      if (!existsSync(join(cwd, f))) throw new Error(`${where}: npm ci needs ${f} copied first`);
    if (rest.includes("--omit=dev")) {
      for (const pkg of o.prodPackages)
        // Nested node_modules come from their own entries in the list.
        linkTree(join(o.repo, pkg), join(cwd, pkg), (p) => p !== join(o.repo, pkg, "node_modules"));
    } else {
      symlinkSync(join(o.repo, "node_modules"), join(cwd, "node_modules"));
    }
  } else if (
    tool === "npm" &&
    verb === "run" &&
    rest.length === 1 &&
    ["build", "build:console"].includes(rest[0]!)
  ) {
    execFileSync("npm", ["run", "--silent", rest[0]!], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  } else {
    throw new Error(`${where}: the build check cannot do this RUN; teach scripts/build-check.ts`);
  }
}

/**
 * Copies a file or a directory tree as hard links (a real copy where a link cannot cross file systems):
 * 110 MB of node_modules is copied in seconds on these disks, linked in a fraction of one. The files
 * are shared with the source, so they must never be changed (nor chmod-ed) through the copy.
 */
export function linkTree(src: string, dest: string, keep: (path: string) => boolean = () => true): void {
  const s = lstatSync(src);
  if (s.isDirectory()) {
    mkdirSync(dest, { recursive: true });
    for (const name of readdirSync(src))
      if (keep(join(src, name))) linkTree(join(src, name), join(dest, name), keep);
    return;
  }
  mkdirSync(dirname(dest), { recursive: true });
  rmSync(dest, { force: true }); // COPY overwrites
  if (s.isSymbolicLink()) return symlinkSync(readlinkSync(src), dest);
  try {
    linkSync(src, dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
    copyFileSync(src, dest);
  }
}

/** Every file and directory under `dir`, with size and modification time: to show nothing changed. */
export function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const s = lstatSync(p);
      out.set(relative(dir, p), `${s.mode.toString(8)} ${s.size} ${s.mtimeMs}`);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

/**
 * Sets `dir` and every directory under it (not through symbolic links) to `mode`. Files are left
 * alone: linkTree shares them with the repository.
 */
export function chmodDirs(dir: string, mode: number): void {
  for (const e of readdirSync(dir, { withFileTypes: true }))
    if (e.isDirectory()) chmodDirs(join(dir, e.name), mode);
  chmodSync(dir, mode);
}

/** A JSON file, parsed. */
export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}
