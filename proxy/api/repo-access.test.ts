/**
 * checkRepoAccess against a real node:http server on 127.0.0.1 playing Gitea's repository API:
 * what reaches the server (path, the token as `Authorization: token X`), and how each answer maps.
 * The e2e twin, against the Gitea stand-in with real OpenID tokens, is in e2e/tests/git-server.test.ts.
 */
import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { checkRepoAccess, repoNameProblem } from "./repo-access.ts";

const TOKEN = "tok-alice.s3cret";

interface Seen {
  method: string;
  url: string;
  authorization?: string;
}

let server: Server;
let base: string;
let seen: Seen[] = [];
/** What the server does with the next request (default: alice's private repository). */
let answer: (req: IncomingMessage, res: ServerResponse) => void;

const repoJson = (over: Record<string, unknown> = {}) => ({
  id: 7,
  name: "notes",
  full_name: "alice/notes",
  owner: { id: 1, login: "alice" },
  private: true,
  clone_url: "http://git.test/alice/notes.git",
  default_branch: "main",
  permissions: { admin: true, push: true, pull: true },
  ...over,
});
const sendJson = (res: ServerResponse, status: number, body: unknown) =>
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));

before(async () => {
  server = createServer((req, res) => {
    seen.push({
      method: req.method ?? "",
      url: req.url ?? "",
      ...(req.headers.authorization !== undefined ? { authorization: req.headers.authorization } : {}),
    });
    answer(req, res);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});
beforeEach(() => {
  seen = [];
  answer = (_req, res) => sendJson(res, 200, repoJson());
});

const check = (owner = "alice", repo = "notes", token: string | undefined = TOKEN, apiBase = base) =>
  checkRepoAccess(fetch, apiBase, token, owner, repo, { timeoutMs: 2000 });

describe("checkRepoAccess: what the server answered", () => {
  test("200: clone URL, default branch, private; the token forwarded as is, as `token X`", async () => {
    assert.deepEqual(await check(), {
      ok: true,
      cloneUrl: "http://git.test/alice/notes.git",
      defaultBranch: "main",
      private: true,
    });
    assert.deepEqual(seen, [
      { method: "GET", url: "/api/v1/repos/alice/notes", authorization: `token ${TOKEN}` },
    ]);
  });

  test("a trailing slash on the API base makes no double slash", async () => {
    await check("alice", "notes", TOKEN, `${base}/`);
    assert.equal(seen[0]!.url, "/api/v1/repos/alice/notes");
  });

  test("no token: asked anonymously, no Authorization header at all", async () => {
    answer = (_req, res) =>
      sendJson(
        res,
        200,
        repoJson({ private: false, permissions: { admin: false, push: false, pull: true } }),
      );
    const r = await checkRepoAccess(fetch, base, undefined, "alice", "public-docs");
    assert.equal(r.ok, true);
    assert.equal(seen[0]!.authorization, undefined);
  });

  for (const [status, reason] of [
    [401, "unauthenticated"],
    [403, "denied"],
    [404, "not_found"],
    [500, "unavailable"],
    [502, "unavailable"],
    [429, "unavailable"],
  ] as const)
    test(`${status} → ${reason}, and the message never holds the token`, async () => {
      answer = (_req, res) => sendJson(res, status, { message: `echo ${TOKEN}` });
      const r = await check();
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.reason, reason);
      assert.ok(!r.ok && !r.message.includes(TOKEN), "no token in the message");
      assert.ok(!r.ok && r.message.includes(String(status)), `the status in "${!r.ok && r.message}"`);
    });

  test("a redirect (a renamed repository) is not followed: not_found, the token goes nowhere else", async () => {
    answer = (req, res) => {
      if (req.url?.startsWith("/api/v1/repos/alice/notes"))
        res.writeHead(301, { location: "/api/v1/repos/alice/renamed" }).end();
      else sendJson(res, 200, repoJson());
    };
    const r = await check();
    assert.equal(!r.ok && r.reason, "not_found");
    assert.match(!r.ok ? r.message : "", /moved or renamed \(301\)/);
    assert.equal(seen.length, 1, "only the one request");
  });

  test("permissions.pull false: denied", async () => {
    answer = (_req, res) =>
      sendJson(res, 200, repoJson({ permissions: { admin: false, push: false, pull: false } }));
    const r = await check();
    assert.equal(!r.ok && r.reason, "denied");
  });

  for (const [what, body] of [
    ["not JSON", "<html>login</html>"],
    ["a JSON array", "[]"],
    ["no clone_url", JSON.stringify(repoJson({ clone_url: undefined }))],
    ["a non-http clone_url", JSON.stringify(repoJson({ clone_url: "file:///etc/passwd" }))],
    ["no default_branch", JSON.stringify(repoJson({ default_branch: "" }))],
    ["private not a boolean", JSON.stringify(repoJson({ private: "yes" }))],
  ] as const)
    test(`an answer with ${what}: unavailable`, async () => {
      answer = (_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(body);
      const r = await check();
      assert.equal(!r.ok && r.reason, "unavailable");
    });

  test("an oversized answer is refused, declared or streamed", async () => {
    const big = JSON.stringify(repoJson({ description: "x".repeat(300 * 1024) }));
    answer = (_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(big);
    const declared = await check();
    assert.equal(!declared.ok && declared.reason, "unavailable");
    assert.match(!declared.ok ? declared.message : "", /more than expected/);

    answer = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" }); // chunked: no length declared
      res.write(big.slice(0, 200 * 1024));
      res.end(big.slice(200 * 1024));
    };
    const streamed = await check();
    assert.equal(!streamed.ok && streamed.reason, "unavailable");
  });

  test("a server that never answers: unavailable once the deadline passes", async () => {
    answer = () => undefined; // holds the request open
    const r = await checkRepoAccess(fetch, base, TOKEN, "alice", "notes", { timeoutMs: 300 });
    assert.equal(!r.ok && r.reason, "unavailable");
    assert.match(!r.ok ? r.message : "", /did not answer in time/);
  });

  test("a closed port: unavailable, naming the error code", async () => {
    const closed = createServer();
    closed.listen(0, "127.0.0.1");
    await once(closed, "listening");
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const r = await check("alice", "notes", TOKEN, `http://127.0.0.1:${port}/api/v1`);
    assert.equal(!r.ok && r.reason, "unavailable");
    assert.match(!r.ok ? r.message : "", /ECONNREFUSED/);
  });
});

describe("checkRepoAccess: refused before any request", () => {
  for (const [owner, repo, field] of [
    ["alice", "../admin", "repoName"],
    ["alice", "a/b", "repoName"],
    ["alice", "notes.git", "repoName"],
    ["alice", "notes.GIT", "repoName"],
    ["alice", "x.wiki", "repoName"],
    ["alice", "notes?x=1", "repoName"],
    ["alice", "notes%2F..", "repoName"],
    ["alice", "a..b", "repoName"],
    ["alice", "", "repoName"],
    ["alice", "r".repeat(101), "repoName"],
    ["alice", "notes\n", "repoName"],
    ["..", "notes", "repoOwner"],
    ["al ice", "notes", "repoOwner"],
    ["alice#", "notes", "repoOwner"],
    ["-", "notes", "repoOwner"],
  ] as const)
    test(`invalid name ${JSON.stringify(owner)}/${JSON.stringify(repo).slice(0, 30)}: refused with ${field}, no request made`, async () => {
      const r = await check(owner, repo);
      assert.equal(!r.ok && r.reason, "invalid");
      assert.equal(!r.ok && r.field, field);
      assert.deepEqual(seen, [], "nothing reached the server");
    });

  test("a token that is no valid header value is refused before any request", async () => {
    for (const bad of ["a b", "tok\r\nX-Evil: 1", "", "x".repeat(9000)]) {
      const r = await check("alice", "notes", bad);
      assert.equal(!r.ok && r.reason, "unauthenticated", JSON.stringify(bad.slice(0, 20)));
    }
    assert.deepEqual(seen, []);
  });
});

describe("repoNameProblem", () => {
  test("Gitea's usable names pass", () => {
    for (const ok of ["notes", "my-repo", "my_repo", "v1.2", "A.b-c_d", "r".repeat(100), ".hidden"])
      assert.equal(repoNameProblem(ok), undefined, ok);
  });
});
