/**
 * The container images, checked without Docker. Dockerfile.operator and Dockerfile.proxy are parsed
 * and held to the rules of their issue (context, pinned bases, non-root user, production dependencies
 * only, the proxy's node flags); then each is built stage by stage on this machine with the real tsc
 * (scripts/build-check.ts), and the final stage's ENTRYPOINT is run in the resulting read-only tree as
 * the image's USER. A bad flag makes the process exit with a configuration error — which happens only
 * after every module of dist/ and every production package it imports was loaded — so a missing
 * production dependency, a `.ts` import left in dist/ or a wrong entrypoint path fails here.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, posix } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { OPERATOR_NODE_ARGS } from "../operator/runtime.ts";
import { PROXY_NODE_ARGS } from "../proxy/runtime.ts";
import {
  chmodDirs,
  dockerignore,
  emulateBuild,
  last,
  parseDockerfile,
  productionPackages,
  readJson,
  snapshot,
  stageEnv,
  stageNamed,
  type Image,
  type Stage,
} from "./build-check.ts";

const repo = fileURLToPath(new URL("..", import.meta.url));
/** Stands for the image's `node`: the Node 24 binary of the `node` devDependency. */
const NODE = join(repo, "node_modules/.bin/node");
const manifest = readJson<{ engines: { node: string }; devDependencies: Record<string, string> }>(
  join(repo, "package.json"),
);
const devDependencies = manifest.devDependencies;
const ignored = dockerignore(readFileSync(join(repo, ".dockerignore"), "utf8"));

const IMAGES = [
  { dockerfile: "Dockerfile.operator", component: "portico-operator" },
  { dockerfile: "Dockerfile.proxy", component: "portico-proxy" },
] as const;

const parse = (dockerfile: string) => parseDockerfile(readFileSync(join(repo, dockerfile), "utf8"));
const isStageRef = (stages: readonly Stage[], image: string) => stages.some((s) => s.name === image);

describe("build-check: Dockerfile parser and .dockerignore rules", () => {
  test("stages, flags, continuations, exec form", () => {
    const stages = parseDockerfile(
      [
        "# syntax=docker/dockerfile:1",
        "FROM node:24.9.0-slim AS build",
        "WORKDIR /src",
        "RUN npm ci \\",
        "    --omit=dev",
        "FROM node:24.9.0-slim",
        "ENV A=1 B=two",
        "COPY --from=build /src/dist ./dist",
        'ENTRYPOINT ["node", "--flag", "dist/main.js"]',
      ].join("\n"),
    );
    assert.equal(stages.length, 2);
    assert.equal(stages[0]!.name, "build");
    assert.equal(stages[1]!.name, undefined);
    assert.deepEqual(last(stages[0]!, "RUN")!.args, ["npm", "ci", "--omit=dev"]);
    const copy = last(stages[1]!, "COPY")!;
    assert.deepEqual([copy.flags, copy.args], [{ from: "build" }, ["/src/dist", "./dist"]]);
    assert.deepEqual(stageEnv(stages[1]!), { A: "1", B: "two" });
    const entry = last(stages[1]!, "ENTRYPOINT")!;
    assert.deepEqual([entry.exec, entry.args], [true, ["node", "--flag", "dist/main.js"]]);
    assert.equal(stageNamed(stages, "build"), stages[0]);
  });

  test(".dockerignore: a directory pattern covers its contents, `!` re-includes, the last match wins", () => {
    const left = dockerignore("*\n!src/\n**/*.test.ts\n!src/keep.test.ts\n/docs\n");
    assert.equal(left("node_modules/x/index.js"), true);
    assert.equal(left("README.md"), true);
    assert.equal(left("src/a/b.ts"), false);
    assert.equal(left("src/a/b.test.ts"), true);
    assert.equal(left("src/keep.test.ts"), false);
    assert.equal(dockerignore("**/*.md")("README.md"), true, "`**/` also matches no directory");
    assert.equal(dockerignore("*.md")("docs/a.md"), false, "`*` stays within the top directory");
  });
});

test(".dockerignore keeps the build context to the sources and manifests", () => {
  for (const p of [
    "node_modules",
    "node_modules/yaml/package.json",
    ".git/HEAD",
    ".state",
    "dist/operator/main.js",
    "docs/benchmarks.md",
    "e2e/lib/proxy.ts",
    "charts/portico/values.yaml",
    "scripts/images.test.ts",
    "operator/config.test.ts",
    "proxy/README.md",
    "README.md",
  ])
    assert.equal(ignored(p), true, `${p} must be left out of the build context`);
  for (const p of [
    "package.json",
    "package-lock.json",
    "tsconfig.build.json",
    "operator/main.ts",
    "crds/types.ts",
  ])
    assert.equal(ignored(p), false, `${p} must be in the build context`);
});

// The Node version lives in one place, package.json's `node` devDependency (what the tests and scripts
// run); the images' FROM lines (below, per Dockerfile), the types and the engines range follow it.
describe("one Node version: the `node` devDependency", () => {
  const node = devDependencies.node!;
  const major = node.split(".")[0]!;

  test("is an exact version", () => {
    assert.match(node, /^\d+\.\d+\.\d+$/, `devDependencies.node ${node}: an exact x.y.z`);
  });

  test("is the Node that runs here (node_modules matches package.json)", () => {
    assert.equal(
      process.versions.node,
      node,
      `running Node ${process.versions.node}, package.json says ${node}: run npm install`,
    );
  });

  test("@types/node is an exact version of the same major", () => {
    const types = devDependencies["@types/node"] ?? "";
    assert.match(types, /^\d+\.\d+\.\d+$/, `@types/node ${types}: an exact x.y.z`);
    assert.equal(types.split(".")[0], major, `@types/node ${types} describes another Node than ${node}`);
  });

  test("engines.node asks for that major", () => {
    assert.equal(manifest.engines.node, `>=${major}`);
  });
});

for (const { dockerfile, component } of IMAGES) {
  describe(dockerfile, () => {
    const stages = parse(dockerfile);
    const final = stages.at(-1)!;

    test("every COPY source from the build context exists and is not left out by .dockerignore", () => {
      for (const s of stages)
        for (const c of s.instructions.filter((i) => i.op === "COPY")) {
          const from = c.flags.from;
          if (from !== undefined) {
            assert.ok(
              stageNamed(stages, from).index < s.index,
              `line ${c.line}: --from=${from} is a later stage`,
            );
            continue;
          }
          for (const src of c.args.slice(0, -1)) {
            const rel = posix.normalize(src).replace(/\/+$/, "");
            assert.ok(existsSync(join(repo, rel)), `line ${c.line}: ${src} does not exist`);
            assert.equal(ignored(rel), false, `line ${c.line}: ${src} is left out by .dockerignore`);
          }
        }
    });

    test("every FROM is pinned to an exact version, the Node the tests run", () => {
      for (const s of stages) {
        if (isStageRef(stages, s.image)) continue;
        const m =
          /^(?:docker\.io\/(?:library\/)?)?([a-z0-9./-]+):(\d+\.\d+\.\d+)[\w.-]*(?:@sha256:[0-9a-f]{64})?$/.exec(
            s.image,
          );
        assert.ok(m, `FROM ${s.image}: give an exact version tag (x.y.z), never latest or no tag`);
        if (m[1] === "node")
          assert.equal(
            m[2],
            devDependencies.node,
            `FROM ${s.image}: the tests run Node ${devDependencies.node}`,
          );
      }
    });

    test("the final stage runs as a non-root numeric uid", () => {
      const user = last(final, "USER")?.args[0];
      const m = /^(\d+)(?::(\d+))?$/.exec(user ?? "");
      assert.ok(m, `USER ${user}: a numeric uid[:gid] (Kubernetes' runAsNonRoot cannot check a name)`);
      assert.notEqual(Number(m[1]), 0, "USER must not be root");
      if (m[2] !== undefined) assert.notEqual(Number(m[2]), 0, "the group must not be root");
    });

    test("the final stage ships production dependencies only and starts node, not npm", () => {
      assert.equal(stageEnv(final).NODE_ENV, "production");
      for (const r of final.instructions.filter((i) => i.op === "RUN"))
        assert.doesNotMatch(
          r.text,
          /\b(npm|npx|yarn|pnpm)\b/,
          `line ${r.line}: no package manager in the final stage`,
        );
      const modules = final.instructions.filter(
        (i) => i.op === "COPY" && i.args.at(-2)!.endsWith("node_modules"),
      );
      assert.equal(modules.length, 1, "node_modules comes from one COPY");
      const from = modules[0]!.flags.from;
      assert.ok(from !== undefined, "node_modules comes from an install stage, not the build context");
      const installs = stageNamed(stages, from).instructions.filter(
        (i) => i.op === "RUN" && /\bnpm (ci|install|i)\b/.test(i.text),
      );
      assert.equal(installs.length, 1, `stage ${from} installs once`);
      assert.match(installs[0]!.text, /^npm ci .*--omit=dev\b/, `stage ${from}: npm ci --omit=dev`);
      const entry = last(final, "ENTRYPOINT");
      assert.ok(entry?.exec, "ENTRYPOINT in exec form: node is PID 1 and receives SIGTERM");
      assert.equal(entry.args[0], "node");
    });

    if (dockerfile === "Dockerfile.operator")
      test("the operator's node flags are OPERATOR_NODE_ARGS (operator/runtime.ts)", () => {
        const args = last(final, "ENTRYPOINT")!.args;
        assert.deepEqual(args.slice(1, -1), [...OPERATOR_NODE_ARGS]);
      });

    if (dockerfile === "Dockerfile.proxy")
      test("the proxy's node flags are PROXY_NODE_ARGS (proxy/runtime.ts)", () => {
        const args = last(final, "ENTRYPOINT")!.args;
        assert.deepEqual(args.slice(1, -1), [...PROXY_NODE_ARGS]);
      });

    describe("built here as its stages say, then started as the image starts it", () => {
      let dir: string;
      let image: Image;
      let before_: Map<string, string>;

      before(() => {
        dir = mkdtempSync(join(tmpdir(), "portico-image-"));
        chmodSync(dir, 0o755); // the image's USER must reach the tree
        image = emulateBuild({ repo, stages, ignored, into: dir, prodPackages: productionPackages(repo) });
        // No directory can take a new, renamed or deleted file; and when this test runs as root, the
        // entrypoint runs as the image's USER, to whom the root-owned files are read-only as well.
        chmodDirs(image.root, 0o555);
        before_ = snapshot(image.root);
      });
      after(() => {
        if (!dir) return;
        chmodDirs(dir, 0o755);
        rmSync(dir, { recursive: true, force: true });
      });

      const start = (args: string[]) => {
        const [command, ...rest] = image.entrypoint;
        assert.equal(command, "node");
        const ids = process.getuid?.() === 0 ? /^(\d+)(?::(\d+))?$/.exec(image.user ?? "") : null;
        const r = spawnSync(NODE, [...rest, ...args], {
          cwd: join(image.root, image.workdir),
          env: { ...image.env, PATH: `${dirname(NODE)}:/usr/bin:/bin`, HOME: "/" },
          encoding: "utf8",
          timeout: 30_000,
          ...(ids ? { uid: Number(ids[1]), gid: Number(ids[2] ?? ids[1]) } : {}),
        });
        return { status: r.status, out: `${r.stdout}${r.stderr}`, error: r.error };
      };

      test("dist/ holds the compiled entrypoint and no tests; package.json makes it ES modules", () => {
        const app = join(image.root, image.workdir);
        const script = image.entrypoint.at(-1)!;
        assert.ok(statSync(join(app, script)).isFile(), `${script} was built`);
        // Without it Node 24 still runs dist/, guessing each file's module type from its syntax.
        assert.equal(readJson<{ type?: string }>(join(app, "package.json")).type, "module");
        const dist = posix.join(image.workdir.slice(1), "dist/");
        const files = [...before_.keys()].filter((p) => p.startsWith(dist));
        assert.ok(files.length > 0);
        assert.deepEqual(
          files.filter((p) => /\.test\.js$|\.ts$/.test(p)),
          [],
        );
      });

      test("an invalid flag: every module loads, then a configuration error naming the flag", () => {
        const r = start(["--log-level=loud"]);
        assert.equal(r.error, undefined);
        assert.doesNotMatch(r.out, /ERR_MODULE_NOT_FOUND|Cannot find (module|package)/);
        assert.equal(r.status, 2, r.out);
        assert.match(r.out, new RegExp(`${component} cannot start`));
        assert.match(r.out, /--log-level \(or PORTICO_LOG_LEVEL\): "loud"/);
      });

      if (dockerfile === "Dockerfile.operator")
        test("the operator's node flags are OPERATOR_NODE_ARGS (operator/runtime.ts)", () => {
          const args = last(final, "ENTRYPOINT")!.args;
          assert.deepEqual(args.slice(1, -1), [...OPERATOR_NODE_ARGS]);
        });

      if (dockerfile === "Dockerfile.proxy")
        test("the console bundle is where the proxy looks (--console-dir's default), its sources are not", () => {
          const consoleDir = join(image.root, image.workdir, "dist/proxy/console/dist");
          assert.ok(statSync(join(consoleDir, "index.html")).isFile(), "index.html of npm run build:console");
          const index = readFileSync(join(consoleDir, "index.html"), "utf8");
          for (const [, file] of index.matchAll(/"\/_console\/([^"]+)"/g))
            assert.ok(statSync(join(consoleDir, file!)).isFile(), `${file} named by index.html`);
          const node_modules = join(image.root, image.workdir, "node_modules");
          for (const dev of ["lit", "@xterm/xterm", "esbuild"])
            assert.equal(existsSync(join(node_modules, dev)), false, `${dev} is a devDependency`);
          assert.equal(existsSync(join(image.root, image.workdir, "dist/proxy/console/app")), false);
        });

      if (dockerfile === "Dockerfile.proxy")
        test("no flag at all: the proxy asks for --auth", () => {
          const r = start([]);
          assert.equal(r.status, 2, r.out);
          assert.match(r.out, /--auth \(or PORTICO_AUTH\) must be given/);
        });

      test("nothing in the image's tree was written", () => {
        assert.deepEqual(snapshot(image.root), before_);
      });
    });
  });
}
