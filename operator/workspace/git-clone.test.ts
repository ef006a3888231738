/**
 * The git-clone init container's script, run for real: Debian's git (/usr/bin/git) under /bin/sh (dash),
 * with exactly the command and environment the builder produces, against repositories in a temp dir
 * (file:// URLs) and, for credentials, a local smart-HTTP server (git http-backend behind Basic auth).
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
  writeFileSync,
} from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { V1Container } from "@kubernetes/client-node";
import type { WorkspaceRepository } from "../../crds/types.ts";
import { GIT_CREDENTIAL_HELPER, buildGitCloneContainer } from "./build.ts";
import { testClass, testConfig, testWorkspace } from "./fixtures.ts";

const GIT = "/usr/bin/git";
const ident = ["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"];
const hasGit = existsSync(GIT);
const skip = hasGit ? false : `${GIT} is not installed`;

let dir = "";
before(() => {
  dir = mkdtempSync(join(tmpdir(), "portico-git-clone-"));
});
after(() => {
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
  url: string;
  bare: string;
  push: (file: string, text: string) => string;
} {
  const bare = join(dir, "origins", `${name}.git`);
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
  return { url: `file://${bare}`, bare, push };
}

/** The init container for `repo`, with the home volume at `{dir}/{home}`. */
function container(repo: WorkspaceRepository, home: string): V1Container {
  const mount = join(dir, home);
  mkdirSync(mount, { recursive: true });
  const c = buildGitCloneContainer(
    testWorkspace({ repository: repo }),
    testClass({ storage: { mountPath: mount } }),
    testConfig(),
  );
  assert.ok(c);
  return c;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the container's command as the kubelet would: its argv, its env (secretKeyRef values from
 * `secret`), plus PATH. `pathPrefix` puts a directory in front of PATH (for a logging git wrapper).
 */
async function run(c: V1Container, secret: Record<string, string> = {}, pathPrefix?: string): Promise<Run> {
  const env: Record<string, string> = {
    PATH: pathPrefix ? `${pathPrefix}:${process.env.PATH}` : process.env.PATH!,
    GIT_CONFIG_NOSYSTEM: "1",
  };
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    const key = e.valueFrom?.secretKeyRef?.key;
    if (key && secret[key] !== undefined) env[e.name] = secret[key];
  }
  const [file, ...args] = c.command!;
  assert.equal(file, "/bin/sh");
  const child = spawn(file!, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, "close")) as [number | null];
  return { code, stdout, stderr };
}

const envValue = (c: V1Container, name: string) => c.env!.find((e) => e.name === name)!.value!;

test("the script parses under dash", { skip: existsSync("/bin/dash") ? false : "no dash" }, () => {
  const c = container({ url: "file:///nowhere/x.git" }, "parse");
  execFileSync("/bin/dash", ["-n", "-c", c.command![2]!]);
});

test(
  "clone, then fast-forward keeping local changes, then leave a diverged clone alone",
  { skip },
  async (t) => {
    const origin = makeOrigin("analysis");
    const c = container({ url: origin.url }, "home1");
    const target = envValue(c, "GIT_TARGET");
    assert.equal(target, join(dir, "home1", "analysis"));

    await t.test("first run clones", async () => {
      const r = await run(c);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(join(target, "a.txt"), "utf8"), "a1\n");
      assert.equal(git(target, "rev-parse", "HEAD"), git(origin.bare, "rev-parse", "main"));
      assert.match(r.stdout, /cloned/);
      assert.deepEqual(readdirSync(join(dir, "home1")), ["analysis"], "no temporary directory left");
    });

    await t.test("second run fast-forwards; untracked and modified files survive", async () => {
      const head = origin.push("c.txt", "c1\n");
      writeFileSync(join(target, "notes.txt"), "my notes\n"); // untracked
      writeFileSync(join(target, "a.txt"), "a1 edited locally\n"); // modified, not touched upstream
      const r = await run(c);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(git(target, "rev-parse", "HEAD"), head);
      assert.equal(readFileSync(join(target, "c.txt"), "utf8"), "c1\n");
      assert.equal(readFileSync(join(target, "notes.txt"), "utf8"), "my notes\n");
      assert.equal(readFileSync(join(target, "a.txt"), "utf8"), "a1 edited locally\n");
      assert.doesNotMatch(r.stderr, /warning/);
    });

    await t.test("a local change in the way of upstream: warning, exit 0, nothing touched", async () => {
      const before = git(target, "rev-parse", "HEAD");
      origin.push("a.txt", "a2 upstream\n"); // conflicts with the local edit of a.txt
      const r = await run(c);
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
      const r = await run(c);
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
      const r = await run(c);
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
    const c = container({ url: origin.url, ref }, home);
    const r = await run(c);
    assert.equal(r.code, 0, `${ref}: ${r.stderr}`);
    const target = envValue(c, "GIT_TARGET");
    assert.equal(git(target, "rev-parse", "HEAD"), want, ref);
    // A second run is quiet and harmless (branch: up to date; tag/commit: nothing to update).
    const again = await run(c);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(git(target, "rev-parse", "HEAD"), want, ref);
  }
});

test("a failed first clone exits non-zero and leaves nothing behind", { skip }, async () => {
  const c = container({ url: `file://${join(dir, "origins", "missing.git")}` }, "home-fail");
  const r = await run(c);
  assert.notEqual(r.code, 0);
  assert.deepEqual(readdirSync(join(dir, "home-fail")), []);
  const bad = container({ url: makeOrigin("badref").url, ref: "no-such-ref" }, "home-badref");
  const r2 = await run(bad);
  assert.notEqual(r2.code, 0);
  assert.deepEqual(readdirSync(join(dir, "home-badref")), []);
});

test("an existing non-git directory at the target is left alone", { skip }, async () => {
  const c = container({ url: makeOrigin("occupied").url }, "home-occupied");
  const target = envValue(c, "GIT_TARGET");
  mkdirSync(target);
  writeFileSync(join(target, "mine.txt"), "mine\n");
  const r = await run(c);
  assert.equal(r.code, 0);
  assert.match(r.stderr, /not a git repository; leaving it/);
  assert.deepEqual(readdirSync(target), ["mine.txt"]);
});

test("hostile URL and ref are data, never code", { skip }, async () => {
  const marker = join(dir, "pwned");
  const c = container(
    { url: `file://${dir}/$(touch ${marker})\`touch ${marker}\`.git`, ref: `x;touch ${marker}` },
    "home-hostile",
  );
  const r = await run(c);
  assert.notEqual(r.code, 0);
  assert.equal(existsSync(marker), false);
});

/** A smart-HTTP git server for `root` that demands Basic auth `user:pass`. */
async function gitHttpServer(
  root: string,
  user: string,
  pass: string,
): Promise<{ url: string; close: () => Promise<void>; seenAuth: string[] }> {
  const expected = `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;
  const seenAuth: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seenAuth.push(req.headers.authorization ?? "");
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { "WWW-Authenticate": 'Basic realm="git"' }).end();
      return;
    }
    const u = new URL(req.url ?? "/", "http://localhost");
    const cgi = spawn("/usr/lib/git-core/git-http-backend", [], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: "1",
        REQUEST_METHOD: req.method ?? "GET",
        PATH_INFO: decodeURIComponent(u.pathname),
        QUERY_STRING: u.search.slice(1),
        CONTENT_TYPE: req.headers["content-type"] ?? "",
        HTTP_CONTENT_ENCODING: req.headers["content-encoding"] ?? "",
        REMOTE_USER: user,
        REMOTE_ADDR: "127.0.0.1",
      },
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on("data", (chunk: Buffer) => {
      if (headersDone) return void res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      headersDone = true;
      let status = 200;
      for (const line of head.subarray(0, end).toString().split("\r\n")) {
        const i = line.indexOf(":");
        const k = line.slice(0, i).trim();
        const v = line.slice(i + 1).trim();
        if (k.toLowerCase() === "status") status = Number(v.split(" ")[0]);
        else res.setHeader(k, v);
      }
      res.writeHead(status);
      res.write(head.subarray(end + 4));
    });
    cgi.on("close", () => res.end());
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seenAuth,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

test(
  "https credentials: used through the env helper, never in argv, output, the clone or the home volume",
  { skip: existsSync("/usr/lib/git-core/git-http-backend") && hasGit ? false : "git http-backend missing" },
  async () => {
    const password = "s3cret-Passw0rd";
    const origin = makeOrigin("private");
    const server = await gitHttpServer(join(dir, "origins"), "alice", password);
    try {
      const c = container(
        { url: `${server.url}/private.git`, secretRef: { name: "alice-git" } },
        "home-https",
      );
      // The user's own git config asks for a "store" helper: it must not get the password.
      writeFileSync(join(dir, "home-https", ".gitconfig"), "[credential]\n\thelper = store\n");
      // A git wrapper that logs every argv, to prove the password is never on a command line.
      const bin = join(dir, "bin");
      mkdirSync(bin, { recursive: true });
      const argvLog = join(dir, "argv.log");
      writeFileSync(join(bin, "git"), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${argvLog}'\nexec ${GIT} "$@"\n`);
      chmodSync(join(bin, "git"), 0o755);

      // Without credentials the clone is refused.
      const denied = await run(c, {}, bin);
      assert.notEqual(denied.code, 0);

      const r = await run(c, { username: "alice", password }, bin);
      assert.equal(r.code, 0, r.stderr);
      const target = envValue(c, "GIT_TARGET");
      assert.equal(readFileSync(join(target, "a.txt"), "utf8"), "a1\n");
      assert.ok(
        server.seenAuth.some((a) => a === `Basic ${Buffer.from(`alice:${password}`).toString("base64")}`),
      );

      origin.push("e.txt", "e1\n");
      const again = await run(c, { username: "alice", password }, bin);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(readFileSync(join(target, "e.txt"), "utf8"), "e1\n");

      const argv = readFileSync(argvLog, "utf8");
      assert.match(argv, /clone/);
      for (const [what, text] of [
        ["argv", argv],
        ["stdout", r.stdout + again.stdout],
        ["stderr", r.stderr + again.stderr],
        [".git/config", readFileSync(join(target, ".git", "config"), "utf8")],
        ["home .gitconfig", readFileSync(join(dir, "home-https", ".gitconfig"), "utf8")],
      ]) {
        assert.ok(!text!.includes(password), `password in ${what}`);
      }
      assert.equal(existsSync(join(dir, "home-https", ".git-credentials")), false, "no stored credentials");
    } finally {
      await server.close();
    }
  },
);

test("the credential helper answers `get` from the environment only", { skip }, () => {
  const out = execFileSync(
    GIT,
    ["-c", "credential.helper=", "-c", `credential.helper=${GIT_CREDENTIAL_HELPER}`, "credential", "fill"],
    {
      input: "protocol=https\nhost=git.example.com\n\n",
      env: {
        PATH: process.env.PATH,
        HOME: dir,
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_USERNAME: "bob",
        GIT_PASSWORD: "pw",
      },
      encoding: "utf8",
    },
  );
  assert.match(out, /^username=bob$/m);
  assert.match(out, /^password=pw$/m);
});
