/**
 * The Gitea stand-in (e2e/fixtures/git-server.ts) with the real OpenID provider: its repository API
 * takes real access tokens (verified against the provider's JWKS) in Gitea's forms and decides from
 * the collaborator lists; git over HTTP (real `git` clients against `git http-backend`) lets
 * anonymous callers read public repositories only, the machine account read everything, and only
 * owners and collaborators push. The proxy's repository-access client (proxy/api/repo-access.ts)
 * is checked against it too. No workspace is created: the suite gives the namespace and the hooks.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { checkRepoAccess } from "../../proxy/api/repo-access.ts";
import {
  addCommit,
  commitOf,
  createRepository,
  startGitServer,
  type GitServer,
} from "../fixtures/git-server.ts";
import { stateDir } from "../lib/component.ts";
import { decodeJwt, startOidcProvider, type OidcProvider } from "../lib/oidc.ts";
import { clusterSuite } from "../lib/suite.ts";

const OIDC_ADDRESS = "198.18.0.130";
const GIT_ADDRESS = "198.18.0.131";
/** Nothing listens here: the helper reads the code off the redirect's Location header. */
const REDIRECT_URI = "http://198.18.0.132:8080/oauth2/callback";
const MACHINE = { user: "portico-clone", password: randomBytes(18).toString("base64url") };

const suite = clusterSuite("git-server", { operator: false });
let op: OidcProvider;
let gs: GitServer;
let root: string;
const token: Record<"alice" | "bob" | "carol", string> = { alice: "", bob: "", carol: "" };
let aliceIdToken: string;
let notesCommit: string;

before(async () => {
  await suite.ready();
  op = await startOidcProvider({
    address: OIDC_ADDRESS,
    port: 9000,
    redirectUris: [REDIRECT_URI],
    name: "oidc-provider-git-server",
  });
  suite.onTeardown(() => op.stop());
  root = await mkdtemp(join(stateDir(), "git-server-"));
  notesCommit = await createRepository(root, "alice", "notes", {
    "README.md": "# alice's private notes\n",
    "src/todo.txt": "write tests\n",
  });
  const docs = await mkdtemp(join(stateDir(), "git-server-docs-"));
  await writeFile(join(docs, "index.md"), "public docs\n");
  await createRepository(root, "alice", "public-docs", docs, { branch: "trunk" });
  gs = await startGitServer({
    root,
    issuer: op.issuer,
    host: GIT_ADDRESS,
    port: 3000,
    machine: MACHINE,
    repos: [
      { owner: "alice", name: "notes", private: true, collaborators: ["carol"] },
      { owner: "alice", name: "public-docs", private: false },
    ],
  });
  suite.onTeardown(() => gs.close());
  for (const user of ["alice", "bob", "carol"] as const) token[user] = (await op.tokensFor(user)).accessToken;
  aliceIdToken = (await op.tokensFor("alice")).idToken;
});

const api = (path: string, authorization?: string) =>
  fetch(`${gs.apiUrl}${path}`, {
    headers: authorization ? { authorization } : {},
    signal: AbortSignal.timeout(10_000),
  });
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

/** A git command with no configuration of the machine's and no prompt; never throws. */
function git(args: string[], o: { cwd?: string; authorization?: string } = {}) {
  const auth = o.authorization ? ["-c", `http.extraHeader=Authorization: ${o.authorization}`] : [];
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(
      "git",
      [...auth, ...args],
      {
        cwd: o.cwd,
        env: {
          PATH: process.env.PATH,
          GIT_CONFIG_NOSYSTEM: "1",
          GIT_CONFIG_GLOBAL: "/dev/null",
          GIT_TERMINAL_PROMPT: "0",
          GIT_AUTHOR_NAME: "Tester",
          GIT_AUTHOR_EMAIL: "tester@example.test",
          GIT_COMMITTER_NAME: "Tester",
          GIT_COMMITTER_EMAIL: "tester@example.test",
        },
        timeout: 60_000,
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}
const scratch = () => mkdtemp(join(stateDir(), "git-client-"));
/** The statuses the server answered for requests to `path` since index `from`. */
const statusesSince = (from: number, path: string) =>
  gs.requests
    .slice(from)
    .filter((r) => r.url.startsWith(path))
    .map((r) => r.status);

test("GET /repos/alice/notes with alice's real token: 200 in Gitea's shape, as `token X`, `Bearer X` and Basic", async () => {
  for (const authorization of [
    `token ${token.alice}`,
    `Bearer ${token.alice}`,
    basic("anything", token.alice),
  ]) {
    const res = await api("/repos/alice/notes", authorization);
    assert.equal(res.status, 200, authorization.split(" ")[0]);
    const r = (await res.json()) as Record<string, unknown>;
    assert.equal(typeof r.id, "number");
    assert.equal(r.name, "notes");
    assert.equal(r.full_name, "alice/notes");
    assert.equal((r.owner as { login: string }).login, "alice");
    assert.equal(r.private, true);
    assert.equal(r.empty, false);
    assert.equal(r.clone_url, `http://${GIT_ADDRESS}:3000/alice/notes.git`);
    assert.equal(r.clone_url, gs.cloneUrl("alice", "notes"));
    assert.equal(r.default_branch, "main");
    assert.deepEqual(r.permissions, { admin: true, push: true, pull: true });
  }
  const last = gs.requests.at(-1)!;
  assert.deepEqual(
    { url: last.url, authorization: last.authorization, status: last.status, user: last.user },
    { url: "/api/v1/repos/alice/notes", authorization: true, status: 200, user: "alice" },
  );
});

test("bob's real token: 404 for alice's private repository, 200 (pull only) for her public one; carol, a collaborator, may push", async () => {
  const hidden = await api("/repos/alice/notes", `token ${token.bob}`);
  assert.equal(hidden.status, 404);
  assert.equal(((await hidden.json()) as { message: string }).message, "not found");

  const pub = await api("/repos/alice/public-docs", `token ${token.bob}`);
  assert.equal(pub.status, 200);
  const r = (await pub.json()) as Record<string, unknown>;
  assert.equal(r.private, false);
  assert.equal(r.default_branch, "trunk", "read from the bare repository's HEAD");
  assert.deepEqual(r.permissions, { admin: false, push: false, pull: true });

  const carol = (await (await api("/repos/alice/notes", `Bearer ${token.carol}`)).json()) as Record<
    string,
    unknown
  >;
  assert.deepEqual(carol.permissions, { admin: false, push: true, pull: true });

  assert.equal((await api("/repos/alice/notes")).status, 404, "anonymous: hidden too");
  assert.equal((await api("/repos/alice/public-docs")).status, 200, "anonymous: public is readable");
  assert.equal((await api("/repos/alice/nothing", `token ${token.alice}`)).status, 404);
});

test("GET /user: no token 401; alice's token names alice; forged, ID and garbage tokens 401", async () => {
  const none = await api("/user");
  assert.equal(none.status, 401);
  assert.equal(((await none.json()) as { message: string }).message, "token is required");

  const me = await api("/user", `token ${token.alice}`);
  assert.equal(me.status, 200);
  const user = (await me.json()) as Record<string, unknown>;
  assert.equal(user.login, "alice");
  assert.equal(user.username, "alice");
  assert.equal(typeof user.id, "number");

  // alice's real token with its payload changed to bob's: the signature no longer holds.
  const [h, , s] = token.alice.split(".");
  const claims = decodeJwt(token.alice).payload;
  const forgedPayload = Buffer.from(JSON.stringify({ ...claims, sub: "bob", preferred_username: "bob" }));
  const forged = `${h}.${forgedPayload.toString("base64url")}.${s}`;
  for (const [what, authorization, refusal] of [
    ["forged", `token ${forged}`, /signature does not verify/],
    ["forged as Basic password", basic("bob", forged), /signature does not verify/],
    ["an ID token (audience portico-proxy, not portico)", `Bearer ${aliceIdToken}`, /wrong audience/],
    ["garbage", "token not-a-jwt", /signature does not verify/],
    ["an unknown scheme", `Digest ${token.alice}`, /malformed Authorization/],
  ] as const) {
    const res = await api("/user", authorization);
    assert.match(gs.requests.at(-1)!.refusal ?? "", refusal, what);
    assert.equal(res.status, 401, what);
    assert.equal(((await res.json()) as { message: string }).message, "invalid username, password or token");
    // A refused token also gets nothing it asked for, public or not.
    assert.equal((await api("/repos/alice/public-docs", authorization)).status, 401, `${what}: repos`);
  }
});

test("an expired token is refused: the same real token, read by a server whose clock is an hour ahead", async () => {
  const later = await startGitServer({
    root,
    issuer: op.issuer,
    host: GIT_ADDRESS,
    port: 3001,
    now: () => Date.now() + 3600_000,
    repos: [{ owner: "alice", name: "notes", private: true }],
  });
  try {
    const res = await fetch(`${later.apiUrl}/user`, { headers: { authorization: `token ${token.alice}` } });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { message: string }).message, "invalid username, password or token");
    assert.equal(later.requests.at(-1)!.refusal, "token is expired");
  } finally {
    await later.close();
  }
});

test("why JWKS and not userinfo: the provider's /me refuses these access tokens (they are for urn:portico)", async () => {
  const res = await fetch(`${op.issuer}/me`, { headers: { authorization: `Bearer ${token.alice}` } });
  assert.equal(res.status, 401, "userinfo could not have told the stand-in who alice is");
  const body = (await res.json()) as { error: string; error_description?: string };
  assert.equal(body.error, "invalid_token", JSON.stringify(body));
});

test("git clone of the public repository works anonymously; its files are there", async () => {
  const dir = join(await scratch(), "docs");
  const r = await git(["clone", "-q", gs.cloneUrl("alice", "public-docs"), dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await readFile(join(dir, "index.md"), "utf8"), "public docs\n");
  assert.equal((await git(["rev-parse", "--abbrev-ref", "HEAD"], { cwd: dir })).stdout.trim(), "trunk");
});

test("the private repository: cloned with the machine account or a collaborator's token; refused without, with a wrong password, or with bob's token", async () => {
  const url = gs.cloneUrl("alice", "notes");
  const from = gs.requests.length;
  const anonymous = await git(["clone", "-q", url, join(await scratch(), "n")]);
  assert.notEqual(anonymous.code, 0, "anonymous clone of a private repository");
  assert.deepEqual(statusesSince(from, "/alice/notes.git"), [401]);

  const wrong = await git(["clone", "-q", url, join(await scratch(), "n")], {
    authorization: basic(MACHINE.user, "not-the-password"),
  });
  assert.notEqual(wrong.code, 0, "wrong machine password");
  const asBob = await git(["clone", "-q", url, join(await scratch(), "n")], {
    authorization: basic("bob", token.bob),
  });
  assert.notEqual(asBob.code, 0, "bob's token");
  assert.equal(gs.requests.at(-1)!.status, 404, "bob is told it does not exist");

  const dir = join(await scratch(), "n");
  const machine = await git(["clone", "-q", url, dir], {
    authorization: basic(MACHINE.user, MACHINE.password),
  });
  assert.equal(machine.code, 0, machine.stderr);
  assert.equal((await git(["rev-parse", "HEAD"], { cwd: dir })).stdout.trim(), notesCommit);
  assert.equal(await readFile(join(dir, "src/todo.txt"), "utf8"), "write tests\n");
  assert.equal(gs.requests.at(-1)!.user, `machine:${MACHINE.user}`);

  const carol = await git(["clone", "-q", url, join(await scratch(), "n")], {
    authorization: basic("carol", token.carol),
  });
  assert.equal(carol.code, 0, carol.stderr);
});

test("push: alice (owner) and carol (collaborator) push; bob, the machine account and anonymous callers cannot", async () => {
  const url = gs.cloneUrl("alice", "notes");
  const machineAuth = basic(MACHINE.user, MACHINE.password);
  const dir = join(await scratch(), "n");
  assert.equal((await git(["clone", "-q", url, dir], { authorization: machineAuth })).code, 0);
  await writeFile(join(dir, "pushed.txt"), "by alice\n");
  await git(["add", "-A"], { cwd: dir });
  await git(["commit", "-q", "-m", "alice's change"], { cwd: dir });
  const mine = (await git(["rev-parse", "HEAD"], { cwd: dir })).stdout.trim();

  for (const [who, authorization] of [
    ["anonymous", undefined],
    ["the machine account", machineAuth],
    ["bob", basic("bob", token.bob)],
  ] as const) {
    const r = await git(["push", "-q", "origin", "HEAD:main"], { cwd: dir, authorization });
    assert.notEqual(r.code, 0, `${who} may not push`);
    assert.equal(await commitOf(root, "alice", "notes"), notesCommit, `${who}: nothing changed upstream`);
  }
  const pub = await git(["push", "-q", gs.cloneUrl("alice", "public-docs"), "HEAD:refs/heads/x"], {
    cwd: dir,
    authorization: basic("bob", token.bob),
  });
  assert.notEqual(pub.code, 0, "bob may read the public repository but not push to it");
  assert.equal(gs.requests.at(-1)!.status, 403);

  const alice = await git(["push", "-q", "origin", "HEAD:main"], {
    cwd: dir,
    authorization: `Bearer ${token.alice}`,
  });
  assert.equal(alice.code, 0, alice.stderr);
  assert.equal(await commitOf(root, "alice", "notes"), mine, "alice's commit is upstream");

  const carol = await git(["push", "-q", "origin", "HEAD:refs/heads/carol"], {
    cwd: dir,
    authorization: basic("carol", token.carol),
  });
  assert.equal(carol.code, 0, carol.stderr);
  assert.equal(await commitOf(root, "alice", "notes", "refs/heads/carol"), mine);
});

test("addCommit upstream: a clone's fetch brings the new commit", async () => {
  const dir = join(await scratch(), "docs");
  assert.equal((await git(["clone", "-q", gs.cloneUrl("alice", "public-docs"), dir])).code, 0);
  const commit = await addCommit(root, "alice", "public-docs", {
    "index.md": "new docs\n",
    "added.md": "x\n",
  });
  assert.equal(await commitOf(root, "alice", "public-docs"), commit);
  assert.equal((await git(["pull", "-q", "--ff-only"], { cwd: dir })).code, 0);
  assert.equal((await git(["rev-parse", "HEAD"], { cwd: dir })).stdout.trim(), commit);
  assert.equal(await readFile(join(dir, "index.md"), "utf8"), "new docs\n");
});

test("the proxy's checkRepoAccess against the stand-in: alice ok, bob not_found, a forged token unauthenticated", async () => {
  const from = gs.requests.length;
  assert.deepEqual(await checkRepoAccess(fetch, gs.apiUrl, token.alice, "alice", "notes"), {
    ok: true,
    cloneUrl: gs.cloneUrl("alice", "notes"),
    defaultBranch: "main",
    private: true,
  });
  const bob = await checkRepoAccess(fetch, gs.apiUrl, token.bob, "alice", "notes");
  assert.equal(!bob.ok && bob.reason, "not_found");
  const forged = await checkRepoAccess(fetch, gs.apiUrl, `${token.alice.slice(0, -4)}AAAA`, "alice", "notes");
  assert.equal(!forged.ok && forged.reason, "unauthenticated");
  const bad = await checkRepoAccess(fetch, gs.apiUrl, token.alice, "alice", "../bob");
  assert.equal(!bad.ok && bad.reason, "invalid");
  assert.deepEqual(
    gs.requests.slice(from).map((r) => [r.url, r.authorization, r.status, r.user ?? null]),
    [
      ["/api/v1/repos/alice/notes", true, 200, "alice"],
      ["/api/v1/repos/alice/notes", true, 404, "bob"],
      ["/api/v1/repos/alice/notes", true, 401, null],
    ],
    "three requests reached the server, each with a token; the invalid name none",
  );
});

test("the request log never holds a credential", () => {
  const log = JSON.stringify(gs.requests);
  for (const t of [...Object.values(token), aliceIdToken, MACHINE.password])
    assert.ok(!log.includes(t), "no token or password in the log");
  assert.ok(gs.requests.some((r) => r.authorization) && gs.requests.some((r) => !r.authorization));
});
