/**
 * The git init containers' scripts, run for real: Debian's git (/usr/bin/git) under /bin/sh (dash),
 * with exactly the commands, environment and mounts the builder produces (container paths mapped to
 * local directories as the e2e pod runner maps them), one fresh work volume per "pod", the two steps
 * in order as a kubelet runs init containers. Origins are served over smart HTTP by a real
 * `git http-backend` (e2e/fixtures/git-http.ts), with Basic auth where credentials are tested.
 *
 * The attack rows at the end plant what a workspace's user (or its code) can plant — a `.git/config`,
 * hooks, a `~/.gitconfig`, URLs of other protocols — and prove that nothing of it runs while the
 * repository Secret is present, and that the password ends up nowhere but at the real git server.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { V1Container } from "@kubernetes/client-node";
import type { GitProtocol, WorkspaceRepository } from "../../crds/types.ts";
import { GIT_HTTP_BACKEND, startGitHttpServer, type GitHttpServer } from "../../e2e/fixtures/git-http.ts";
import { translatePaths } from "../../e2e/runner/images.ts";
import {
  GIT_CREDENTIAL_HELPER,
  GIT_WORK_MOUNT,
  buildGitCheckoutContainer,
  buildGitCloneContainer,
  buildPod,
} from "./build.ts";
import { testClass, testConfig, testWorkspace } from "./fixtures.ts";

const GIT = "/usr/bin/git";
const ident = ["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"];
const hasGit = existsSync(GIT) && existsSync(GIT_HTTP_BACKEND);
const skip = hasGit ? false : `${GIT} or git http-backend is not installed`;
const PASSWORD = "s3cret-Passw0rd";

let dir = "";
let origins = "";
let open: GitHttpServer; // no auth
let locked: GitHttpServer; // Basic auth alice:PASSWORD
let evil: GitHttpServer; // where an attacker would like the password to go
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "portico-git-clone-"));
  origins = join(dir, "origins");
  mkdirSync(origins);
  if (!hasGit) return;
  open = await startGitHttpServer({ root: origins });
  locked = await startGitHttpServer({ root: origins, user: "alice", pass: PASSWORD });
  evil = await startGitHttpServer({ root: origins });
});
after(async () => {
  await open?.close();
  await locked?.close();
  await evil?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs git with a clean environment (no system or user config), returns trimmed stdout. */
function git(cwd: string, ...args: string[]): string {
  return execFileSync(GIT, [...ident, ...args], {
    cwd,
    env: { PATH: process.env.PATH, HOME: dir, GIT_CONFIG_NOSYSTEM: "1" },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  }).trim();
}

/** A bare origin `{name}.git` with one commit (a.txt, b.txt) on main, plus a working copy to push from. */
function makeOrigin(name: string): {
  path: string;
  bare: string;
  push: (file: string, text: string) => string;
} {
  const bare = join(origins, `${name}.git`);
  const seed = join(dir, "seeds", name);
  mkdirSync(bare, { recursive: true });
  mkdirSync(seed, { recursive: true });
  git(bare, "init", "--quiet", "--bare", "--initial-branch=main");
  git(seed, "init", "--quiet", "--initial-branch=main");
  git(seed, "remote", "add", "origin", bare);
  const push = (file: string, text: string): string => {
    writeFileSync(join(seed, file), text);
    git(seed, "add", file);
    git(seed, "commit", "--quiet", "-m", `change ${file}`);
    git(seed, "push", "--quiet", "origin", "HEAD");
    return git(seed, "rev-parse", "HEAD");
  };
  push("a.txt", "a1\n");
  push("b.txt", "b1\n");
  return { path: `/${name}.git`, bare, push };
}

interface Pod {
  clone: V1Container;
  checkout: V1Container;
  /** The home volume's local directory (the class's mount path is set to it). */
  home: string;
  target: string;
}

/** The two init containers for `repo`, with the home volume at `{dir}/{home}`. */
function pod(repo: WorkspaceRepository, home: string, protocols: GitProtocol[] = ["http"]): Pod {
  const mount = join(dir, home);
  mkdirSync(mount, { recursive: true });
  const ws = testWorkspace({ repository: repo });
  const cls = testClass({ storage: { mountPath: mount }, git: { allowedProtocols: protocols } });
  const clone = buildGitCloneContainer(ws, cls, testConfig());
  const checkout = buildGitCheckoutContainer(ws, cls, testConfig());
  assert.ok(clone && checkout);
  const target = clone.env!.find((e) => e.name === "GIT_TARGET")!.value!;
  return { clone, checkout, home: mount, target };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The pod's git work volume (an emptyDir: fresh for every pod). */
  work: string;
}

/**
 * Runs the pod's init containers as the kubelet would, in order, each to completion, stopping at the
 * first failure: their argv, their env (secretKeyRef values from `secret`), PATH, and their mounts
 * (the work volume a fresh directory). `pathPrefix` puts a directory in front of PATH (a git wrapper).
 */
async function run(p: Pod, secret: Record<string, string> = {}, pathPrefix?: string): Promise<Run> {
  const work = mkdtempSync(join(dir, "work-"));
  const mounts = new Map([[GIT_WORK_MOUNT, work]]);
  const out: Run = { code: 0, stdout: "", stderr: "", work };
  for (const c of [p.clone, p.checkout]) {
    const env: Record<string, string> = {
      PATH: pathPrefix ? `${pathPrefix}:${process.env.PATH}` : process.env.PATH!,
    };
    for (const e of c.env ?? []) {
      if (e.value !== undefined) env[e.name] = translatePaths(e.value, mounts);
      const key = e.valueFrom?.secretKeyRef?.key;
      if (key && secret[key] !== undefined) env[e.name] = secret[key];
    }
    const [file, ...args] = c.command!;
    assert.equal(file, "/bin/sh");
    const child = spawn(file!, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (d: Buffer) => (out.stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out.stderr += d.toString()));
    const [code] = (await once(child, "close")) as [number | null];
    out.code = code;
    if (code !== 0) break;
  }
  return out;
}

/** Every file under `root` (following no symlinks) whose content includes `needle`. */
function filesContaining(root: string, needle: string): string[] {
  const hits: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && readFileSync(p).includes(needle)) hits.push(p);
    }
  };
  walk(root);
  return hits;
}

test("the scripts parse under dash", { skip: existsSync("/bin/dash") ? false : "no dash" }, () => {
  const p = pod({ url: "https://git.example.com/x.git" }, "parse");
  execFileSync("/bin/dash", ["-n", "-c", p.clone.command![2]!]);
  execFileSync("/bin/dash", ["-n", "-c", p.checkout.command![2]!]);
});

test(
  "clone, then fast-forward keeping local changes, then leave a diverged clone alone",
  { skip },
  async (t) => {
    const origin = makeOrigin("analysis");
    const p = pod({ url: `${open.url}${origin.path}` }, "home1");
    const target = p.target;
    assert.equal(target, join(dir, "home1", "analysis"));

    await t.test("first run clones, origin is the real URL", async () => {
      const r = await run(p);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(join(target, "a.txt"), "utf8"), "a1\n");
      assert.equal(git(target, "rev-parse", "HEAD"), git(origin.bare, "rev-parse", "main"));
      assert.equal(git(target, "remote", "get-url", "origin"), `${open.url}${origin.path}`);
      assert.equal(git(target, "rev-parse", "--abbrev-ref", "@{upstream}"), "origin/main");
      assert.match(r.stdout, /cloned/);
      assert.deepEqual(readdirSync(join(dir, "home1")), ["analysis"], "no temporary directory left");
      assert.equal(existsSync(join(target, ".git", "hooks")), false, "no (sample) hooks");
    });

    await t.test("second run fast-forwards; untracked and modified files survive", async () => {
      const head = origin.push("c.txt", "c1\n");
      writeFileSync(join(target, "notes.txt"), "my notes\n"); // untracked
      writeFileSync(join(target, "a.txt"), "a1 edited locally\n"); // modified, not touched upstream
      const before = open.requests.length;
      const r = await run(p);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(git(target, "rev-parse", "HEAD"), head);
      assert.equal(readFileSync(join(target, "c.txt"), "utf8"), "c1\n");
      assert.equal(readFileSync(join(target, "notes.txt"), "utf8"), "my notes\n");
      assert.equal(readFileSync(join(target, "a.txt"), "utf8"), "a1 edited locally\n");
      assert.doesNotMatch(r.stderr, /warning/);
      // Incremental: the clone's commits were offered as haves, so the server negotiated.
      const posts = open.requests.slice(before).filter((q) => q.method === "POST");
      assert.ok(posts.length >= 1);
    });

    await t.test("a local change in the way of upstream: warning, exit 0, nothing touched", async () => {
      const before = git(target, "rev-parse", "HEAD");
      origin.push("a.txt", "a2 upstream\n"); // conflicts with the local edit of a.txt
      const r = await run(p);
      assert.equal(r.code, 0);
      assert.match(r.stderr, /warning: cannot fast-forward/);
      assert.equal(git(target, "rev-parse", "HEAD"), before);
      assert.equal(readFileSync(join(target, "a.txt"), "utf8"), "a1 edited locally\n");
      assert.equal(readFileSync(join(target, "notes.txt"), "utf8"), "my notes\n");
    });

    await t.test("a local commit diverging from upstream: warning, exit 0, local commit kept", async () => {
      git(target, "add", "a.txt", "notes.txt");
      git(target, "commit", "--quiet", "-m", "local work");
      const local = git(target, "rev-parse", "HEAD");
      origin.push("d.txt", "d1\n");
      const r = await run(p);
      assert.equal(r.code, 0);
      assert.match(r.stderr, /warning: cannot fast-forward/);
      assert.equal(git(target, "rev-parse", "HEAD"), local);
      assert.equal(git(target, "log", "-1", "--format=%s"), "local work");
      assert.equal(existsSync(join(target, "d.txt")), false);
      assert.equal(git(target, "status", "--porcelain"), "");
    });

    await t.test("origin unreachable on a later run: warning, exit 0, files as they are", async () => {
      const local = git(target, "rev-parse", "HEAD");
      rmSync(origin.bare, { recursive: true });
      const r = await run(p);
      assert.equal(r.code, 0);
      assert.match(r.stderr, /warning: could not fetch/);
      assert.equal(git(target, "rev-parse", "HEAD"), local);
    });
  },
);

test("ref: a branch, a tag or a commit is checked out on first clone", { skip }, async () => {
  const origin = makeOrigin("refs");
  const seed = join(dir, "seeds", "refs");
  const first = git(seed, "rev-parse", "HEAD~1");
  git(seed, "tag", "v1", first);
  git(seed, "checkout", "--quiet", "-b", "dev");
  const dev = origin.push("dev.txt", "dev\n");
  git(seed, "push", "--quiet", "origin", "v1");

  const cases: [string, string, string][] = [
    ["dev", dev, "home-ref-branch"],
    ["v1", first, "home-ref-tag"],
    [first, first, "home-ref-commit"],
    [first.slice(0, 10), first, "home-ref-short"],
  ];
  for (const [ref, want, home] of cases) {
    const p = pod({ url: `${open.url}${origin.path}`, ref }, home);
    const r = await run(p);
    assert.equal(r.code, 0, `${ref}: ${r.stderr}`);
    assert.equal(git(p.target, "rev-parse", "HEAD"), want, ref);
    // A second run is quiet and harmless (branch: up to date; tag/commit: nothing to update).
    const again = await run(p);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(git(p.target, "rev-parse", "HEAD"), want, ref);
  }
});

test("a failed first clone exits non-zero and leaves nothing behind", { skip }, async () => {
  const p = pod({ url: `${open.url}/missing.git` }, "home-fail");
  const r = await run(p);
  assert.notEqual(r.code, 0);
  assert.deepEqual(readdirSync(join(dir, "home-fail")), []);
  const bad = pod({ url: `${open.url}${makeOrigin("badref").path}`, ref: "no-such-ref" }, "home-badref");
  const r2 = await run(bad);
  assert.notEqual(r2.code, 0);
  assert.deepEqual(readdirSync(join(dir, "home-badref")), []);
});

test("an existing non-git directory at the target is left alone", { skip }, async () => {
  const p = pod({ url: `${open.url}${makeOrigin("occupied").path}` }, "home-occupied");
  mkdirSync(p.target);
  writeFileSync(join(p.target, "mine.txt"), "mine\n");
  const r = await run(p);
  assert.equal(r.code, 0);
  assert.match(r.stderr, /not a git repository; leaving it/);
  assert.deepEqual(readdirSync(p.target), ["mine.txt"]);
});

test("hostile URL and ref are data, never code", { skip }, async () => {
  const marker = join(dir, "pwned");
  const p = pod(
    { url: `${open.url}/$(touch ${marker})\`touch ${marker}\`.git`, ref: `x;touch ${marker}` },
    "home-hostile",
  );
  const r = await run(p);
  assert.notEqual(r.code, 0);
  assert.equal(existsSync(marker), false);
});

test(
  "https credentials: used through the env helper, never in argv, output, the clone, the work volume or the home volume",
  { skip },
  async () => {
    const origin = makeOrigin("private");
    const p = pod({ url: `${locked.url}${origin.path}`, secretRef: { name: "alice-git" } }, "home-https");
    // A git wrapper that logs every argv, to prove the password is never on a command line.
    const bin = join(dir, "bin");
    mkdirSync(bin, { recursive: true });
    const argvLog = join(dir, "argv.log");
    writeFileSync(join(bin, "git"), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${argvLog}'\nexec ${GIT} "$@"\n`);
    chmodSync(join(bin, "git"), 0o755);

    // Without credentials the clone is refused.
    const denied = await run(p, {}, bin);
    assert.notEqual(denied.code, 0);

    const r = await run(p, { username: "alice", password: PASSWORD }, bin);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(p.target, "a.txt"), "utf8"), "a1\n");
    const basic = `Basic ${Buffer.from(`alice:${PASSWORD}`).toString("base64")}`;
    assert.ok(locked.requests.some((q) => q.authorization === basic));

    origin.push("e.txt", "e1\n");
    const again = await run(p, { username: "alice", password: PASSWORD }, bin);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(readFileSync(join(p.target, "e.txt"), "utf8"), "e1\n");

    const argv = readFileSync(argvLog, "utf8");
    assert.match(argv, /clone/);
    for (const [what, text] of [
      ["argv", argv],
      ["stdout", r.stdout + again.stdout],
      ["stderr", r.stderr + again.stderr],
    ]) {
      assert.ok(!text!.includes(PASSWORD), `password in ${what}`);
    }
    for (const root of [p.home, r.work, again.work])
      assert.deepEqual(filesContaining(root, PASSWORD), [], `password stored under ${root}`);
  },
);

test(
  "the credential helper answers `get` from the environment, for the repository's host only",
  { skip },
  () => {
    const fill = (host: string) =>
      execFileSync(
        GIT,
        [
          "-c",
          "credential.helper=",
          "-c",
          `credential.helper=${GIT_CREDENTIAL_HELPER}`,
          "credential",
          "fill",
        ],
        {
          input: `protocol=https\nhost=${host}\n\n`,
          env: {
            PATH: process.env.PATH,
            HOME: dir,
            GIT_CONFIG_NOSYSTEM: "1",
            GIT_TERMINAL_PROMPT: "0",
            GIT_CREDENTIAL_HOST: "git.example.com",
            GIT_USERNAME: "bob",
            GIT_PASSWORD: "pw",
          },
          encoding: "utf8",
          stdio: ["pipe", "pipe", "pipe"],
        },
      );
    const out = fill("git.example.com");
    assert.match(out, /^username=bob$/m);
    assert.match(out, /^password=pw$/m);
    // Another host (a redirect, an insteadOf) gets nothing: git then has no credentials and gives up.
    assert.throws(() => fill("evil.example.com"));
  },
);

// ---------------------------------------------------------------------------------------------------------
// Attacks: what the workspace's user (or code running in the IDE) can plant, and what it must not reach.

/** A script that records that it ran, and what it could see of the credentials. */
function spy(name: string): { path: string; marker: string } {
  const path = join(dir, "spies", name);
  const marker = join(dir, "markers", name);
  mkdirSync(join(dir, "spies"), { recursive: true });
  mkdirSync(join(dir, "markers"), { recursive: true });
  writeFileSync(
    path,
    `#!/bin/sh\n{ echo "ran: $0 $*"; echo "password=\${GIT_PASSWORD:-}"; cat /etc/portico/git-secret/ssh-privatekey 2>/dev/null; } >> '${marker}'\n`,
  );
  chmodSync(path, 0o755);
  return { path, marker };
}

/** The spy `script` as every hook git runs around a fetch, a fast-forward and a checkout. */
function installHooks(hooksDir: string, script: string) {
  mkdirSync(hooksDir, { recursive: true });
  for (const h of [
    "post-merge",
    "post-checkout",
    "reference-transaction",
    "fsmonitor-watchman",
    "pre-auto-gc",
  ]) {
    writeFileSync(join(hooksDir, h), readFileSync(script));
    chmodSync(join(hooksDir, h), 0o755);
  }
}

interface AttackRow {
  name: string;
  /** Plants the attack on the volume (the clone already exists unless `beforeClone`). */
  plant(p: Pod): Promise<string[]> | string[];
  beforeClone?: boolean;
  /**
   * Proof that the plant is live: plain git, as the user (or an unhardened script) would run it with
   * the password in its environment, trips it. Run after the assertions.
   */
  control?(p: Pod): void;
}

/** Runs git in the user's clone the naive way: the user's HOME and config, the password in env. */
function naive(p: Pod, ...args: string[]) {
  try {
    execFileSync(GIT, args, {
      cwd: p.target,
      env: {
        PATH: process.env.PATH,
        HOME: p.home,
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_PASSWORD: PASSWORD,
        GIT_TERMINAL_PROMPT: "0",
      },
      stdio: "ignore",
    });
  } catch {
    // the effect is what matters, not git's exit code
  }
}

const attackRows: AttackRow[] = [
  {
    name: "a .git/config with core.fsmonitor, core.sshCommand, core.hooksPath and a credential helper",
    plant: (p) => {
      const s = ["fsmonitor", "sshcommand", "credhelper", "hookspath"].map(spy);
      installHooks(join(dir, "evil-hooks"), s[3]!.path);
      const cfg = join(p.target, ".git", "config");
      writeFileSync(
        cfg,
        readFileSync(cfg, "utf8") +
          `[core]\n\tfsmonitor = ${s[0]!.path}\n\tsshCommand = ${s[1]!.path}\n\thooksPath = ${join(dir, "evil-hooks")}\n` +
          `[credential]\n\thelper = !${s[2]!.path}\n`,
      );
      return s.map((x) => x.marker);
    },
    control: (p) => naive(p, "status"),
  },
  {
    name: "hooks in .git/hooks (post-merge, post-checkout, reference-transaction, fsmonitor-watchman)",
    plant: (p) => {
      const s = spy("hooks");
      installHooks(join(p.target, ".git", "hooks"), s.path);
      return [s.marker];
    },
    control: (p) => naive(p, "checkout", "-q", "main"),
  },
  {
    name: "remote.origin.url and url.insteadOf pointing at the attacker's server",
    plant: (p) => {
      git(p.target, "remote", "set-url", "origin", `${evil.url}/stolen.git`);
      git(p.target, "config", `url.${evil.url}/.insteadOf`, `${locked.url}/`);
      return [];
    },
  },
  {
    name: "include.path of a config file elsewhere on the volume (fsmonitor and a credential helper in it)",
    plant: (p) => {
      const s = spy("include");
      writeFileSync(
        join(p.home, "evil.gitconfig"),
        `[core]\n\tfsmonitor = ${s.path}\n[credential]\n\thelper = !${s.path}\n[url "${evil.url}/"]\n\tinsteadOf = ${locked.url}/\n`,
      );
      git(p.target, "config", "include.path", join(p.home, "evil.gitconfig"));
      return [s.marker];
    },
    control: (p) => naive(p, "status"),
  },
  {
    name: "a ~/.gitconfig and ~/.config/git/config in the home volume (before the first clone)",
    beforeClone: true,
    plant: (p) => {
      const s = spy("gitconfig");
      const cfg = `[core]\n\tfsmonitor = ${s.path}\n\thooksPath = ${join(dir, "evil-hooks")}\n[credential]\n\thelper = !${s.path}\n\thelper = store\n[url "${evil.url}/"]\n\tinsteadOf = ${locked.url}/\n[protocol]\n\tallow = always\n`;
      writeFileSync(join(p.home, ".gitconfig"), cfg);
      mkdirSync(join(p.home, ".config", "git"), { recursive: true });
      writeFileSync(join(p.home, ".config", "git", "config"), cfg);
      return [s.marker];
    },
    control: (p) => naive(p, "status"),
  },
];

for (const row of attackRows) {
  test(
    `attack: ${row.name} — runs nothing while the Secret is present, the password goes only to the real server`,
    { skip },
    async () => {
      const origin = makeOrigin(`attack-${attackRows.indexOf(row)}`);
      const home = `home-attack-${attackRows.indexOf(row)}`;
      const p = pod({ url: `${locked.url}${origin.path}`, secretRef: { name: "alice-git" } }, home);
      const secret = { username: "alice", password: PASSWORD };
      let markers: string[] = [];
      if (row.beforeClone) markers = await row.plant(p);
      const first = await run(p, secret);
      assert.equal(first.code, 0, first.stderr);
      if (!row.beforeClone) markers = await row.plant(p);
      const head = origin.push("new.txt", "new\n");
      const evilBefore = evil.requests.length;

      const r = await run(p, secret);

      assert.equal(r.code, 0, r.stderr);
      assert.equal(git(p.target, "rev-parse", "HEAD"), head, "fast-forwarded from the real server");
      for (const m of markers)
        assert.equal(existsSync(m), false, `${m} ran: ${existsSync(m) ? readFileSync(m, "utf8") : ""}`);
      assert.deepEqual(evil.requests.slice(evilBefore), [], "nothing reached the attacker's server");
      assert.ok(!existsSync(join(p.home, ".git-credentials")), "no credentials stored by a `store` helper");
      for (const root of [p.home, r.work])
        assert.deepEqual(filesContaining(root, PASSWORD), [], `password stored under ${root}`);
    },
  );
}

test(
  "attack: ssh re-sync with core.sshCommand and a ~/.ssh/config planted — git runs Portico's ssh (-F /dev/null, the Secret's key), never the user's",
  { skip },
  async () => {
    // First clone over http into the home; then the same repository by ssh, with a key Secret.
    const origin = makeOrigin("sshcase");
    const first = pod({ url: `${open.url}${origin.path}` }, "home-ssh", ["http", "ssh"]);
    assert.equal((await run(first)).code, 0);
    const s = spy("ssh-config");
    git(first.target, "config", "core.sshCommand", s.path);
    mkdirSync(join(first.home, ".ssh"), { recursive: true });
    writeFileSync(join(first.home, ".ssh", "config"), `Host *\n  ProxyCommand ${s.path} %h\n`);
    // A stand-in for ssh on PATH: records its argv and refuses (there is no ssh server here).
    const bin = join(dir, "ssh-bin");
    mkdirSync(bin, { recursive: true });
    const argvLog = join(dir, "ssh-argv.log");
    writeFileSync(join(bin, "ssh"), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${argvLog}'\nexit 255\n`);
    chmodSync(join(bin, "ssh"), 0o755);

    const p = pod({ url: "git@git.example.com:sshcase.git", secretRef: { name: "bob-ssh" } }, "home-ssh", [
      "ssh",
    ]);
    assert.equal(p.target, first.target);
    const r = await run(p, {}, bin);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: could not fetch/);
    const argv = readFileSync(argvLog, "utf8");
    assert.match(
      argv,
      /^-F \/dev\/null -i \/etc\/portico\/git-secret\/ssh-privatekey -o IdentitiesOnly=yes /m,
    );
    assert.match(argv, /git@git\.example\.com git-upload-pack 'sshcase\.git'/);
    assert.equal(existsSync(s.marker), false, "the planted sshCommand / ProxyCommand never ran");
  },
);

const protocolRows: { name: string; url: (m: string) => string; allowed: GitProtocol[]; message: RegExp }[] =
  [
    {
      name: "an ext:: URL (runs a command)",
      url: (m) => `ext::sh -c touch% ${m}`,
      allowed: ["https", "ssh", "http", "git"],
      message: /protocol ext is not allowed/,
    },
    {
      name: "a file:// URL (reads paths inside the clone container)",
      url: () => `file://${join(origins, "attack-0.git")}`,
      allowed: ["https", "ssh", "http", "git"],
      message: /protocol file is not allowed/,
    },
    {
      name: "a bare local path",
      url: () => join(origins, "attack-0.git"),
      allowed: ["https", "ssh", "http", "git"],
      message: /protocol file is not allowed/,
    },
    {
      name: "an http:// URL when the class allows https and ssh only",
      url: () => `${open.url}/attack-0.git`,
      allowed: ["https", "ssh"],
      message: /protocol http is not allowed/,
    },
    {
      name: "a git:// URL when the class allows https and ssh only",
      url: () => "git://127.0.0.1:1/attack-0.git",
      allowed: ["https", "ssh"],
      message: /protocol git is not allowed/,
    },
  ];

for (const row of protocolRows) {
  test(`attack: ${row.name} — refused before git speaks it, nothing cloned`, { skip }, async () => {
    const marker = join(dir, "markers", `proto-${protocolRows.indexOf(row)}`);
    const home = `home-proto-${protocolRows.indexOf(row)}`;
    const p = pod({ url: row.url(marker) }, home, row.allowed);
    const openBefore = open.requests.length;
    const r = await run(p);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, row.message);
    assert.equal(existsSync(marker), false);
    assert.deepEqual(readdirSync(p.home), []);
    assert.equal(open.requests.length, openBefore, "no request reached a server");
  });
}

test(
  "attack: git itself refuses a protocol the class does not allow, even past the script's check",
  { skip },
  () => {
    // GIT_ALLOW_PROTOCOL, as the clone step exports it, overrides any protocol.* config.
    const marker = join(dir, "markers", "ext-direct");
    assert.throws(
      () =>
        execFileSync(
          GIT,
          [
            "-c",
            "protocol.allow=always",
            "-c",
            "protocol.ext.allow=always",
            "ls-remote",
            `ext::sh -c touch% ${marker}`,
          ],
          {
            env: {
              PATH: process.env.PATH,
              HOME: dir,
              GIT_CONFIG_NOSYSTEM: "1",
              GIT_ALLOW_PROTOCOL: "https:ssh",
            },
            stdio: "pipe",
          },
        ),
      /transport 'ext' not allowed/,
    );
    assert.equal(existsSync(marker), false);
  },
);

test("the Secret reaches only the clone step: never the IDE container, never the checkout step", () => {
  const cls = testClass();
  for (const repo of [
    { url: "https://git.example.com/a/b.git", secretRef: { name: "team-git" } },
    { url: "git@git.example.com:a/b.git", secretRef: { name: "team-git" } },
  ]) {
    const p = buildPod(testWorkspace({ repository: repo }), cls, testConfig());
    const [clone, checkout] = p.spec!.initContainers!;
    const ide = p.spec!.containers[0]!;
    const secretVolumes = p.spec!.volumes!.filter((v) => v.secret).map((v) => v.name);
    for (const c of [ide, checkout!]) {
      assert.ok(!JSON.stringify(c.env ?? []).includes("team-git"), `${c.name} env`);
      assert.ok(!(c.volumeMounts ?? []).some((m) => secretVolumes.includes(m.name)), `${c.name} mounts`);
      assert.equal(c.envFrom, undefined);
    }
    assert.ok(
      !(ide.volumeMounts ?? []).some((m) => m.name === "git-work"),
      "the IDE never mounts the work volume",
    );
    // The step holding the Secret mounts the user's volume read-only.
    assert.equal(clone!.volumeMounts!.find((m) => m.name === "home")!.readOnly, true);
  }
});
