/**
 * The sync pod's scripts, run for real: Debian's git under /bin/sh, with exactly the commands, env and
 * mounts buildSyncPod produces (container paths mapped to local directories as the e2e pod runner maps
 * them, the termination message path included), the `git-clone` step then `git-sync`, one fresh work
 * volume per pod. The origin is served over smart HTTP by a real `git http-backend`. Each case makes
 * its own clone with the workspace pod's own init containers, changes it as a user would, pushes
 * upstream, syncs, and checks the files, the history and the reported result.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { V1Container } from "@kubernetes/client-node";
import { GIT_HTTP_BACKEND, startGitHttpServer, type GitHttpServer } from "../../e2e/fixtures/git-http.ts";
import { translatePaths } from "../../e2e/runner/images.ts";
import { GIT_WORK_MOUNT, buildGitCheckoutContainer, buildGitCloneContainer } from "./build.ts";
import { testClass, testConfig, testWorkspace } from "./fixtures.ts";
import { GIT_SYNC_SCRIPT, TERMINATION_LOG, buildSyncPod, parseSyncReport } from "./sync.ts";

const GIT = "/usr/bin/git";
const ident = ["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"];
const hasGit = existsSync(GIT) && existsSync(GIT_HTTP_BACKEND);
const skip = hasGit ? false : `${GIT} or git http-backend is not installed`;

let dir = "";
let server: GitHttpServer;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "portico-git-sync-"));
  mkdirSync(join(dir, "origins"));
  if (hasGit) server = await startGitHttpServer({ root: join(dir, "origins") });
});
after(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function git(cwd: string, ...args: string[]): string {
  return execFileSync(GIT, [...ident, ...args], {
    cwd,
    env: { PATH: process.env.PATH, HOME: dir, GIT_CONFIG_NOSYSTEM: "1" },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  }).trim();
}

/** A bare origin with a.txt … d.txt on main, and `push(files)` to commit changes upstream. */
function makeOrigin(name: string) {
  const bare = join(dir, "origins", `${name}.git`);
  const seed = join(dir, "seeds", name);
  mkdirSync(bare, { recursive: true });
  mkdirSync(seed, { recursive: true });
  git(bare, "init", "--quiet", "--bare", "--initial-branch=main");
  git(seed, "init", "--quiet", "--initial-branch=main");
  git(seed, "remote", "add", "origin", bare);
  const push = (files: Record<string, string | null>): string => {
    for (const [f, text] of Object.entries(files)) {
      if (text === null) git(seed, "rm", "--quiet", f);
      else {
        writeFileSync(join(seed, f), text);
        git(seed, "add", f);
      }
    }
    git(seed, "commit", "--quiet", "-m", `upstream ${Object.keys(files).join(" ")}`);
    git(seed, "push", "--quiet", "origin", "HEAD");
    return git(seed, "rev-parse", "HEAD");
  };
  push({ "a.txt": "a1\n", "b.txt": "b1\n", "c.txt": "c1\n", "d.txt": "d1\n" });
  return { url: `${server.url}/${name}.git`, push };
}

interface Result {
  code: number | null;
  log: string;
  message: string;
}

/** Runs containers in order like a kubelet (stopping at a failure); returns the last one's message. */
async function runContainers(containers: V1Container[]): Promise<Result> {
  const work = mkdtempSync(join(dir, "work-"));
  const termination = join(work, "..", `termination-${work.split("-").pop()}`);
  const mounts = new Map([
    [GIT_WORK_MOUNT, work],
    [TERMINATION_LOG, termination],
  ]);
  const out: Result = { code: 0, log: "", message: "" };
  for (const c of containers) {
    const env: Record<string, string> = { PATH: process.env.PATH! };
    for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = translatePaths(e.value, mounts);
    const [file, ...args] = c.command!;
    const child = spawn(file!, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (d: Buffer) => (out.log += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out.log += d.toString()));
    [out.code] = (await once(child, "close")) as [number | null];
    if (out.code !== 0) break;
  }
  out.message = existsSync(termination) ? readFileSync(termination, "utf8") : "";
  return out;
}

/** A workspace cloning `url` into `{dir}/{home}`: its clone (made by the pod's init containers) and sync. */
async function workspace(url: string, home: string) {
  const mount = join(dir, home);
  mkdirSync(mount, { recursive: true });
  const ws = testWorkspace({ repository: { url } });
  const cls = testClass({ storage: { mountPath: mount }, git: { allowedProtocols: ["http"] } });
  const made = await runContainers([
    buildGitCloneContainer(ws, cls, testConfig())!,
    buildGitCheckoutContainer(ws, cls, testConfig())!,
  ]);
  assert.equal(made.code, 0, made.log);
  const target = join(
    mount,
    url
      .split("/")
      .pop()!
      .replace(/\.git$/, ""),
  );
  const sync = async (request = "req-1") => {
    const pod = buildSyncPod(ws, cls, testConfig(), "node-1", request)!;
    const r = await runContainers([...pod.spec!.initContainers!, ...pod.spec!.containers]);
    return { ...r, report: parseSyncReport(r.message) };
  };
  return { target, sync, file: (f: string) => readFileSync(join(target, f), "utf8") };
}

test("the sync script parses under dash", { skip: existsSync("/bin/dash") ? false : "no dash" }, () => {
  execFileSync("/bin/dash", ["-n", "-c", GIT_SYNC_SCRIPT]);
});

test(
  "no local commits: uncommitted edits kept as they are, upstream-only files updated, a deleted file comes back",
  { skip },
  async () => {
    const origin = makeOrigin("plain");
    const w = await workspace(origin.url, "home-plain");
    writeFileSync(join(w.target, "a.txt"), "a1 local edit\n");
    unlinkSync(join(w.target, "c.txt"));
    const upstream = origin.push({ "b.txt": "b2\n", "c.txt": "c2\n" });

    const r = await w.sync();
    assert.equal(r.code, 0, r.log);
    assert.equal(r.report?.reason, "Merged", r.message);
    assert.equal(r.report?.commit, upstream);
    assert.deepEqual(r.report?.conflicts, []);
    assert.equal(w.file("a.txt"), "a1 local edit\n", "the uncommitted edit is kept");
    assert.equal(w.file("b.txt"), "b2\n", "upstream's change is in");
    assert.equal(w.file("c.txt"), "c2\n", "the locally deleted file changed upstream comes back");
    assert.equal(git(w.target, "rev-parse", "HEAD"), upstream, "nothing committed on the user's behalf");
    assert.equal(git(w.target, "diff", "--name-only", "HEAD"), "a.txt", "the edit is still uncommitted");

    const again = await w.sync("req-2");
    assert.equal(again.code, 0, again.log);
    assert.equal(again.report?.reason, "UpToDate");
    assert.equal(w.file("a.txt"), "a1 local edit\n");
  },
);

test(
  "a file changed both here (uncommitted) and upstream keeps the local version and is listed",
  { skip },
  async () => {
    const origin = makeOrigin("both");
    const w = await workspace(origin.url, "home-both");
    writeFileSync(join(w.target, "a.txt"), "a1\nmine\n");
    writeFileSync(join(w.target, "new.txt"), "my own new file\n"); // untracked; upstream adds it too
    writeFileSync(join(w.target, "scratch.txt"), "untracked, upstream knows nothing of it\n");
    const upstream = origin.push({ "a.txt": "a1\ntheirs\n", "b.txt": "b2\n", "new.txt": "theirs\n" });

    const r = await w.sync();
    assert.equal(r.code, 0, r.log);
    assert.equal(r.report?.reason, "MergedKeepingLocal", r.message);
    assert.deepEqual(r.report?.conflicts, ["a.txt", "new.txt"]);
    assert.equal(w.file("a.txt"), "a1\nmine\n", "the user's whole version, not a mix");
    assert.equal(w.file("new.txt"), "my own new file\n");
    assert.equal(w.file("scratch.txt"), "untracked, upstream knows nothing of it\n");
    assert.equal(w.file("b.txt"), "b2\n");
    assert.equal(git(w.target, "rev-parse", "HEAD"), upstream, "the branch is upstream's commit");
    assert.equal(r.report?.commit, upstream);
    assert.deepEqual(
      git(w.target, "diff", "--name-only", "HEAD").split("\n"),
      ["a.txt", "new.txt"],
      "the local versions are uncommitted changes on top of upstream",
    );
    assert.equal(git(w.target, "ls-files", "--others"), "scratch.txt");
  },
);

test(
  "local commits are kept: upstream is merged, both-changed files keep the local version",
  { skip },
  async () => {
    const origin = makeOrigin("commits");
    const w = await workspace(origin.url, "home-commits");
    writeFileSync(join(w.target, "d.txt"), "d1 committed locally\n");
    writeFileSync(join(w.target, "b.txt"), "b1 committed locally\n");
    git(w.target, "commit", "--quiet", "-am", "my work");
    const mine = git(w.target, "rev-parse", "HEAD");
    writeFileSync(join(w.target, "a.txt"), "a1 not committed\n");
    const upstream = origin.push({ "a.txt": "a2\n", "b.txt": "b2\n", "c.txt": "c2\n" });

    const r = await w.sync();
    assert.equal(r.code, 0, r.log);
    assert.equal(r.report?.reason, "MergedKeepingLocal", r.message);
    assert.deepEqual(r.report?.conflicts, ["a.txt", "b.txt"]);
    assert.equal(w.file("d.txt"), "d1 committed locally\n");
    assert.equal(w.file("b.txt"), "b1 committed locally\n");
    assert.equal(w.file("a.txt"), "a1 not committed\n");
    assert.equal(w.file("c.txt"), "c2\n");
    const head = git(w.target, "rev-parse", "HEAD");
    assert.equal(r.report?.commit, head);
    git(w.target, "merge-base", "--is-ancestor", mine, head); // throws when not
    git(w.target, "merge-base", "--is-ancestor", upstream, head);
    assert.equal(
      git(w.target, "status", "--porcelain", "--untracked-files=no"),
      "",
      "committed, as the docs say",
    );
    assert.match(r.report!.message, /committed first as [0-9a-f]{40}/);
  },
);

test(
  "a merge in progress, or no upstream branch: nothing touched, the sync fails saying why",
  { skip },
  async () => {
    const origin = makeOrigin("refuse");
    const w = await workspace(origin.url, "home-refuse");
    git(w.target, "checkout", "--quiet", "--detach");
    writeFileSync(join(w.target, "a.txt"), "mine\n");
    origin.push({ "a.txt": "a2\n" });
    const before = git(w.target, "rev-parse", "HEAD");

    const r = await w.sync();
    assert.equal(r.code, 1, r.log);
    assert.equal(r.report?.reason, "Failed");
    assert.match(r.report!.message, /no upstream branch.*Nothing was changed\./);
    assert.equal(git(w.target, "rev-parse", "HEAD"), before);
    assert.equal(w.file("a.txt"), "mine\n");
  },
);

test("a repository that cannot be fetched fails the sync, nothing changed", { skip }, async () => {
  const origin = makeOrigin("gone");
  const w = await workspace(origin.url, "home-gone");
  writeFileSync(join(w.target, "a.txt"), "mine\n");
  rmSync(join(dir, "origins", "gone.git"), { recursive: true });
  const r = await w.sync();
  assert.equal(r.code, 1, r.log);
  assert.match(r.report!.message, /could not fetch/);
  assert.equal(w.file("a.txt"), "mine\n");
});
