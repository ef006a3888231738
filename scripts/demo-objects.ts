/**
 * The objects `npm run demo` (scripts/demo.sh) applies: the chart's default WorkspaceClasses and the
 * sample Workspaces (e2e/fixtures/demo-workspace.yaml), both workspaces cloning the demo's sample
 * repository. The chart's classes stay the one source; the demo changes three things, here and
 * nowhere else, for a local machine:
 * - every class lets git speak plain http (the demo's git server has no TLS; the chart allows only
 *   https and ssh);
 * - VS Code opens the clone (code-server's positional folder, `{home}/{repo dir}`, as the operator
 *   clones it) instead of the volume's root;
 * - VS Code skips the workspace-trust prompt (`--disable-workspace-trust`): the folder is the demo's own.
 *
 *   node scripts/demo-objects.ts http://198.18.0.20:8080/sample.git   prints a kubectl List (JSON)
 *
 * `demoObjects` is pure; reading the files happens only in `main`.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import type { Workspace, WorkspaceClass } from "../crds/types.ts";
import { mountPath, repoDirName } from "../operator/workspace/build.ts";

const REPO = fileURLToPath(new URL("..", import.meta.url));
export const CLASSES_DIR = join(REPO, "charts", "portico", "files", "workspaceclasses");
export const WORKSPACES_FILE = join(REPO, "e2e", "fixtures", "demo-workspace.yaml");

/** The code-server flag that turns workspace trust off for the session (code-server 4.x). */
export const NO_TRUST_PROMPT = "--disable-workspace-trust";

/** Whether a class runs code-server, whose positional argument is the folder it opens. */
export const isCodeServer = (cls: WorkspaceClass): boolean =>
  /(^|\/)codercom\/code-server(:|@|$)/.test(cls.spec.image);

/** The demo's version of one chart class (see the header); a new object, the input is left alone. */
export function demoClass(cls: WorkspaceClass, repoUrl: string): WorkspaceClass {
  const out = structuredClone(cls);
  out.spec.git = { ...out.spec.git, allowedProtocols: ["http"] };
  if (!isCodeServer(out)) return out;
  const home = mountPath(out).replace(/\/+$/, "");
  const args = out.spec.args ?? [];
  const folder = args.findIndex((a) => a.replace(/\/+$/, "") === home);
  if (folder < 0) {
    throw new Error(
      `class ${cls.metadata.name}: no argument opens its home ${home}, so the demo cannot point VS Code at the clone instead; update scripts/demo-objects.ts to the class's args`,
    );
  }
  args[folder] = `${home}/${repoDirName(repoUrl)}`;
  if (!args.includes(NO_TRUST_PROMPT)) args.splice(folder, 0, NO_TRUST_PROMPT);
  out.spec.args = args;
  return out;
}

/** The demo's workspaces: each clones `repoUrl` (no Secret: the demo's server is open). */
export function demoWorkspace(ws: Workspace, repoUrl: string): Workspace {
  const out = structuredClone(ws);
  out.spec.repository = { url: repoUrl };
  return out;
}

/** Everything the demo applies, as one kubectl List. */
export function demoObjects(
  classes: WorkspaceClass[],
  workspaces: Workspace[],
  repoUrl: string,
): { apiVersion: "v1"; kind: "List"; items: (WorkspaceClass | Workspace)[] } {
  return {
    apiVersion: "v1",
    kind: "List",
    items: [
      ...classes.map((c) => demoClass(c, repoUrl)),
      ...workspaces.map((w) => demoWorkspace(w, repoUrl)),
    ],
  };
}

/** Every YAML document of a file, as objects. */
export function readDocs<T>(file: string): T[] {
  return parseAllDocuments(readFileSync(file, "utf8"))
    .map((d) => d.toJS() as T | null)
    .filter((d): d is T => d !== null);
}

function main(argv: string[]): void {
  const repoUrl = argv[0];
  if (!repoUrl) {
    process.stderr.write("usage: node scripts/demo-objects.ts REPOSITORY_URL\n");
    process.exit(2);
  }
  const classes = readdirSync(CLASSES_DIR)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .flatMap((f) => readDocs<WorkspaceClass>(join(CLASSES_DIR, f)));
  const objects = demoObjects(classes, readDocs<Workspace>(WORKSPACES_FILE), repoUrl);
  process.stdout.write(`${JSON.stringify(objects, null, 1)}\n`);
}

if (import.meta.main) main(process.argv.slice(2));
