/**
 * Bad input against the running self-service API (issue 13): every row sends what a careless or
 * hostile client would — malformed JSON, unknown fields, bad names and classes, sizes past a class's
 * bounds, oversized bodies, GraphQL depth and alias bombs, batched mutations, a cookie-authenticated
 * POST from a foreign origin, another user's ids, a repository without access — and expects its
 * refusal: the status, the error code, and the field named in the message. After every row, proof
 * that nothing was created or changed: every Workspace in the users' namespaces has the same
 * generation (spec), labels and annotations as before, and the git server saw no request a row
 * should not have caused.
 *
 * Real parts: the cluster and operator, the OpenID provider (bearer tokens and a browser session),
 * the Gitea stand-in with real git (e2e/fixtures/git-server.ts).
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { GROUP, VERSION, WORKSPACE, type Workspace } from "../../crds/types.ts";
import { createRepository, startGitServer, type GitServer } from "../fixtures/git-server.ts";
import {
  api,
  apiProxyFlags,
  sessionCookie,
  userNamespaces,
  type ApiAnswer,
  type ApiCall,
} from "../lib/api-client.ts";
import { uniqueName } from "../lib/kube.ts";
import { startOidcProvider, type OidcProvider } from "../lib/oidc.ts";
import { stateDir } from "../lib/operator.ts";
import { startProxy, type ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";
import { echoClass, getWorkspace } from "../lib/workspaces.ts";

const PROVIDER = "198.18.0.115";
const GIT = "198.18.0.116";
const PROXY = "198.18.0.117";
const PUBLIC = "http://portico.test:8080";

/** A class with bounds (storage 5Gi, cpu 2, memory 4Gi, idle 8h) and a class without repositories' worries. */
const suite = clusterSuite("attacks-api", {
  classes: {
    bounded: (name: string) =>
      echoClass(name, {
        bounds: { maxStorage: "5Gi", maxCpu: "2", maxMemory: "4Gi", maxIdleTimeout: "8h" },
      } as never),
  },
});
const c = suite.c;
const prefix = uniqueName("aa");
const nsOf = (user: string) => `${prefix}-${user}`;
let idp: OidcProvider;
let git: GitServer;
let px: ProxyProcess;
let aliceCookie: string;
const tokens = new Map<string, string>();

before(async () => {
  await suite.ready();
  await userNamespaces(suite, prefix, ["alice", "bob"]);
  idp = await startOidcProvider({
    address: PROVIDER,
    port: 9000,
    redirectUris: [`${PUBLIC}/__portico/auth/callback`],
    name: "attacks-api-oidc",
  });
  suite.onTeardown(() => idp.stop());
  const root = join(stateDir(), uniqueName("attacks-api-git"));
  await createRepository(root, "alice", "private", { "README.md": "alice's\n" });
  git = await startGitServer({
    root,
    issuer: idp.issuer,
    host: GIT,
    port: 3000,
    repos: [{ owner: "alice", name: "private", private: true }],
  });
  suite.onTeardown(() => git.close());
  px = await startProxy({
    address: PROXY,
    port: 8080,
    name: "attacks-api-proxy",
    flags: apiProxyFlags(idp, PUBLIC, prefix, git, [
      "--api-max-body-bytes=16384",
      "--graphql-max-depth=6",
      "--graphql-max-cost=200",
      `--git-class=${suite.cls.bounded}`,
    ]),
  });
  suite.onTeardown(() => px.stop());
  for (const user of ["alice", "bob"]) tokens.set(user, (await idp.tokensFor(user)).accessToken);
  aliceCookie = await sessionCookie(px, idp, "alice");
  // The victim: alice's workspace (stopped: no pod needed), made through the API itself.
  const made = await api(px, {
    method: "POST",
    path: "/api/v1/workspaces",
    token: tokens.get("alice")!,
    body: { className: suite.cls.bounded, name: "victim", running: false, storage: { size: "2Gi" } },
  });
  assert.equal(made.status, 201, made.body);
});

/**
 * Every Workspace in the users' namespaces: name → what a client could have changed (generation,
 * which counts spec changes, and the metadata a client writes). The operator's status writes change
 * resourceVersion while a row runs; they are not the row's doing.
 */
async function snapshot(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const user of ["alice", "bob"]) {
    const list = (await c.custom.listNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: nsOf(user),
      plural: WORKSPACE.plural,
    })) as { items: Workspace[] };
    for (const w of list.items)
      out.set(
        `${w.metadata.namespace}/${w.metadata.name}`,
        JSON.stringify([
          w.metadata.generation,
          w.metadata.labels ?? {},
          w.metadata.annotations ?? {},
          w.metadata.deletionTimestamp ?? null,
        ]),
      );
  }
  return out;
}

const victim = () => `/api/v1/workspaces/${nsOf("alice")}/victim`;
const victimId = () => `${nsOf("alice")}/victim`;
const as = (user: string) => tokens.get(user)!;
const post = (path: string, body: unknown, user = "bob", extra: Partial<ApiCall> = {}): ApiCall => ({
  method: "POST",
  path,
  body,
  token: as(user),
  ...extra,
});
const create = (body: unknown, extra: Partial<ApiCall> = {}) =>
  post("/api/v1/workspaces", body, "bob", extra);

interface Row {
  /** What the client sends. */
  attack: string;
  send: () => ApiCall | Promise<ApiCall>;
  status: number;
  /** REST `error` or GraphQL `extensions.code`. */
  code: string;
  /** The field the refusal must name (in `field` and in the message). */
  field?: string;
  /** The git server must not have been asked (default true: only provision rows may ask it). */
  gitQuiet?: boolean;
}

const cls = () => suite.cls.bounded;
const bigName = "a".repeat(41);

const REST_ROWS: Row[] = [
  { attack: "malformed JSON", send: () => create('{"className": '), status: 400, code: "bad_request" },
  { attack: "a JSON array instead of an object", send: () => create("[]"), status: 400, code: "invalid" },
  { attack: "a JSON string body", send: () => create('"x"'), status: 400, code: "invalid" },
  {
    attack: "owner in the body (unknown field)",
    send: () => create({ className: cls(), owner: "alice" }),
    status: 400,
    code: "invalid",
    field: "owner",
  },
  {
    attack: "an unknown nested field",
    send: () => create({ className: cls(), storage: { size: "1Gi", storageClassName: "fast" } }),
    status: 400,
    code: "invalid",
    field: "storage.storageClassName",
  },
  {
    attack: "no className",
    send: () => create({ name: "x1" }),
    status: 400,
    code: "invalid",
    field: "className",
  },
  {
    attack: "a class that does not exist",
    send: () => create({ className: "no-such-class" }),
    status: 400,
    code: "invalid",
    field: "className",
  },
  {
    attack: "className of the wrong type",
    send: () => create({ className: 42 }),
    status: 400,
    code: "invalid",
    field: "className",
  },
  {
    attack: "an upper-case name",
    send: () => create({ className: cls(), name: "Bad" }),
    status: 400,
    code: "invalid",
    field: "name",
  },
  {
    attack: "a 41-character name",
    send: () => create({ className: cls(), name: bigName }),
    status: 400,
    code: "invalid",
    field: "name",
  },
  {
    attack: "a path in the name",
    send: () => create({ className: cls(), name: "../victim" }),
    status: 400,
    code: "invalid",
    field: "name",
  },
  {
    attack: "storage that is not a quantity",
    send: () => create({ className: cls(), storage: { size: "lots" } }),
    status: 400,
    code: "invalid",
    field: "storage.size",
  },
  {
    attack: "storage past the class's bound",
    send: () => create({ className: cls(), storage: { size: "6Gi" } }),
    status: 400,
    code: "invalid",
    field: "storage.size",
  },
  {
    attack: "cpu limit past the bound",
    send: () => create({ className: cls(), resources: { limits: { cpu: "3" } } }),
    status: 400,
    code: "invalid",
    field: "resources.limits.cpu",
  },
  {
    attack: "memory request past the bound",
    send: () => create({ className: cls(), resources: { requests: { memory: "5Gi" } } }),
    status: 400,
    code: "invalid",
    field: "resources.requests.memory",
  },
  {
    attack: "an idleTimeout that is not a duration",
    send: () => create({ className: cls(), idleTimeout: "forever" }),
    status: 400,
    code: "invalid",
    field: "idleTimeout",
  },
  {
    attack: "an idleTimeout past the bound",
    send: () => create({ className: cls(), idleTimeout: "9h" }),
    status: 400,
    code: "invalid",
    field: "idleTimeout",
  },
  {
    attack: "idleTimeout 0s (never stop) past the bound",
    send: () => create({ className: cls(), idleTimeout: "0s" }),
    status: 400,
    code: "invalid",
    field: "idleTimeout",
  },
  {
    attack: "credentials in the repository URL",
    send: () => create({ className: cls(), repository: { url: "https://u:p@git.example/x.git" } }),
    status: 400,
    code: "invalid",
    field: "repository.url",
  },
  {
    attack: "a file:// repository",
    send: () => create({ className: cls(), repository: { url: "file:///etc" } }),
    status: 400,
    code: "invalid",
    field: "repository.url",
  },
  {
    attack: "a workspace in alice's namespace",
    send: () => create({ className: cls(), namespace: nsOf("alice") }),
    status: 400,
    code: "invalid",
    field: "namespace",
  },
  {
    attack: "running as a string",
    send: () => create({ className: cls(), running: "yes" }),
    status: 400,
    code: "invalid",
    field: "running",
  },
  {
    attack: "sharedWith.users not a list",
    send: () => create({ className: cls(), sharedWith: { users: "alice" } }),
    status: 400,
    code: "invalid",
    field: "sharedWith.users",
  },
  {
    attack: "a body past the API's limit",
    send: () => create({ className: cls(), description: "x".repeat(20_000) }),
    status: 413,
    code: "payload_too_large",
  },
  {
    attack: "text/plain instead of JSON",
    send: () => create(JSON.stringify({ className: cls() }), { headers: { "content-type": "text/plain" } }),
    status: 415,
    code: "unsupported_media_type",
  },
  {
    attack: "PATCH alice's workspace as bob",
    send: () => ({ method: "PATCH", path: victim(), token: as("bob"), body: { running: true } }),
    status: 404,
    code: "not_found",
  },
  {
    attack: "PATCH owner (unknown field)",
    send: () => ({ method: "PATCH", path: victim(), token: as("alice"), body: { owner: "bob" } }),
    status: 400,
    code: "invalid",
    field: "owner",
  },
  {
    attack: "PATCH with a stale If-Match",
    send: () => ({
      method: "PATCH",
      path: victim(),
      token: as("alice"),
      body: { running: false },
      headers: { "if-match": '"1"' },
    }),
    status: 412,
    code: "precondition_failed",
  },
  {
    attack: "PATCH a smaller volume (may only grow)",
    send: () => ({ method: "PATCH", path: victim(), token: as("alice"), body: { storage: { size: "1Gi" } } }),
    status: 400,
    code: "invalid",
    field: "storage.size",
  },
  {
    attack: "DELETE alice's workspace as bob",
    send: () => ({ method: "DELETE", path: `${victim()}?deleteVolume=true`, token: as("bob") }),
    status: 404,
    code: "not_found",
  },
  {
    attack: "DELETE with a stale If-Match",
    send: () => ({ method: "DELETE", path: victim(), token: as("alice"), headers: { "if-match": '"1"' } }),
    status: 412,
    code: "precondition_failed",
  },
  {
    attack: "start alice's workspace as bob",
    send: () => post(`${victim()}/start`, undefined),
    status: 404,
    code: "not_found",
  },
  {
    attack: "sync a workspace without a repository",
    send: () => post(`${victim()}/sync`, undefined, "alice"),
    status: 409,
    code: "conflict",
    field: "repository",
  },
  {
    attack: "logs of alice's workspace as bob",
    send: () => ({ path: `${victim()}/logs?lines=5`, token: as("bob") }),
    status: 404,
    code: "not_found",
  },
  {
    attack: "logs with lines=0",
    send: () => ({ path: `${victim()}/logs?lines=0`, token: as("alice") }),
    status: 400,
    code: "invalid",
    field: "lines",
  },
  {
    attack: "logs with lines=abc",
    send: () => ({ path: `${victim()}/logs?lines=abc`, token: as("alice") }),
    status: 400,
    code: "invalid",
    field: "lines",
  },
  {
    attack: "stats as a user",
    send: () => ({ path: "/api/v1/stats", token: as("bob") }),
    status: 403,
    code: "forbidden",
  },
  {
    attack: "every workspace (all=true) as a user",
    send: () => ({ path: "/api/v1/workspaces?all=true", token: as("bob") }),
    status: 403,
    code: "forbidden",
    field: "all",
  },
  {
    attack: "no credentials",
    send: () => ({ method: "POST", path: "/api/v1/workspaces", body: { className: cls() } }),
    status: 401,
    code: "unauthenticated",
  },
  {
    attack: "a forged bearer token",
    send: () =>
      create({ className: cls() }, { token: `${as("bob").split(".").slice(0, 2).join(".")}.forged` }),
    status: 401,
    code: "unauthenticated",
  },
  {
    attack: "a cookie POST from a foreign origin (CSRF)",
    send: () => ({
      method: "POST",
      path: "/api/v1/workspaces",
      cookie: aliceCookie,
      body: { className: cls(), name: "csrf" },
      headers: { origin: "http://evil.example", "sec-fetch-site": "cross-site" },
    }),
    status: 403,
    code: "cross_origin",
  },
  {
    attack: "a cookie DELETE from a foreign origin (CSRF)",
    send: () => ({
      method: "DELETE",
      path: `${victim()}?deleteVolume=true`,
      cookie: aliceCookie,
      headers: { origin: "http://evil.example", "sec-fetch-site": "cross-site" },
    }),
    status: 403,
    code: "cross_origin",
  },
  {
    attack: "an unknown API route",
    send: () => ({ path: "/api/v1/nope", token: as("bob") }),
    status: 404,
    code: "not_found",
  },
  {
    attack: "PUT on the collection",
    send: () => ({ method: "PUT", path: "/api/v1/workspaces", token: as("bob"), body: {} }),
    status: 405,
    code: "method_not_allowed",
  },
  {
    attack: "the seed path with an unknown IDE",
    send: () => post("/api/v1/analysis", { ide: "no-such-ide" }),
    status: 400,
    code: "invalid",
    field: "ide",
  },
  {
    attack: "provision a repository bob may not read",
    send: () => post("/api/v1/provision", { repoOwner: "alice", repoName: "private" }),
    status: 403,
    code: "repository_access_denied",
    gitQuiet: false,
  },
  {
    attack: "provision with a path in repoName",
    send: () => post("/api/v1/provision", { repoOwner: "alice", repoName: "../private" }),
    status: 400,
    code: "invalid",
    field: "repoName",
  },
];

/** A GraphQL row: the operation, and the code of its first error. */
const gqlRow = (
  attack: string,
  query: string | (() => string),
  code: string,
  status = 200,
  extra: Partial<Row> = {},
): Row => ({
  attack,
  send: () => ({
    method: "POST",
    path: "/graphql",
    token: as("bob"),
    body: { query: typeof query === "function" ? query() : query },
    headers: { accept: "application/graphql-response+json, application/json" },
  }),
  status,
  code,
  ...extra,
});

const GRAPHQL_ROWS: Row[] = [
  gqlRow(
    "a depth bomb (introspection nested past the limit)",
    `{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }`,
    "QUERY_TOO_DEEP",
    400,
  ),
  gqlRow(
    "an alias bomb (300 aliases of health, past the cost limit)",
    () => `{ ${Array.from({ length: 300 }, (_, i) => `a${i}: health`).join(" ")} }`,
    "QUERY_TOO_COSTLY",
    400,
  ),
  gqlRow(
    "an alias bomb (1,000 aliases: refused while parsing, past the token budget the cost allows)",
    () => `{ ${Array.from({ length: 1000 }, (_, i) => `a${i}: health`).join(" ")} }`,
    "GRAPHQL_PARSE_FAILED",
    400,
  ),
  gqlRow(
    "a fragment fan-out",
    `query { ...A } fragment A on Query { a: myCodeServers { ...B } b: myCodeServers { ...B } c: myCodeServers { ...B } } fragment B on CodeServerInstance { id url status createdAt userId repoName repoOwner lastAccessedAt storageUsed a1: id a2: id a3: id a4: id a5: id a6: id a7: id a8: id a9: id b1: url b2: url b3: url b4: url b5: url b6: url b7: url b8: url b9: url c1: status c2: status c3: status c4: status c5: status c6: status c7: status c8: status c9: status d1: id d2: id d3: id d4: id d5: id d6: id d7: id d8: id d9: id e1: id e2: id e3: id e4: id e5: id e6: id e7: id e8: id e9: id f1: id f2: id f3: id f4: id f5: id f6: id f7: id f8: id f9: id g1: id g2: id g3: id g4: id g5: id g6: id g7: id g8: id g9: id }`,
    "QUERY_TOO_COSTLY",
    400,
  ),
  gqlRow(
    "alice's instance by id, as bob",
    () => `{ codeServer(id: "${victimId()}") { id url } }`,
    "NOT_FOUND",
  ),
  gqlRow(
    "delete alice's instance, as bob",
    () => `mutation { deleteCodeServer(id: "${victimId()}") }`,
    "NOT_FOUND",
  ),
  gqlRow(
    "start alice's instance, as bob",
    () => `mutation { startCodeServer(id: "${victimId()}") { id } }`,
    "NOT_FOUND",
  ),
  gqlRow("a malformed id", `{ codeServer(id: "no-slash") { id } }`, "BAD_USER_INPUT"),
  gqlRow(
    "codeServerLogs with lines past the bound",
    () => `{ codeServerLogs(id: "${nsOf("bob")}/none", lines: 100000) }`,
    "BAD_USER_INPUT",
  ),
  gqlRow("instanceStats as a user", `{ instanceStats { totalInstances } }`, "FORBIDDEN"),
  gqlRow(
    "provision a repository bob may not read",
    `mutation { provisionCodeServer(repoOwner: "alice", repoName: "private") { isNew } }`,
    "REPOSITORY_ACCESS_DENIED",
    200,
    { gitQuiet: false },
  ),
  gqlRow(
    "provision with '..' in the name",
    `mutation { provisionCodeServer(repoOwner: "alice", repoName: "..") { isNew } }`,
    "BAD_USER_INPUT",
  ),
  gqlRow(
    "a field the schema does not have",
    `{ myCodeServers { id password } }`,
    "GRAPHQL_VALIDATION_FAILED",
    400,
  ),
  {
    attack: "batched mutations (an array of operations)",
    send: () => ({
      method: "POST",
      path: "/graphql",
      token: as("bob"),
      body: [{ query: `mutation { deleteCodeServer(id: "${victimId()}") }` }, { query: "{ health }" }],
    }),
    status: 400,
    code: "BAD_REQUEST",
  },
  {
    attack: "a mutation over GET",
    send: () => ({
      method: "GET",
      path: `/graphql?query=${encodeURIComponent(`mutation { deleteCodeServer(id: "${victimId()}") }`)}`,
      token: as("bob"),
    }),
    status: 405,
    code: "method_not_allowed",
  },
  {
    attack: "a cookie mutation from a foreign origin (CSRF)",
    send: () => ({
      method: "POST",
      path: "/graphql",
      cookie: aliceCookie,
      body: { query: `mutation { stopCodeServer(id: "${victimId()}") { id } }` },
      headers: { origin: "http://evil.example", "sec-fetch-site": "cross-site" },
    }),
    status: 403,
    code: "cross_origin",
  },
  {
    attack: "malformed JSON to /graphql",
    send: () => ({ method: "POST", path: "/graphql", token: as("bob"), body: '{"query": ' }),
    status: 400,
    code: "BAD_REQUEST",
  },
];

/** The code of an answer: REST `error`, else GraphQL's first error's `extensions.code`. */
function codeOf(a: ApiAnswer): string | undefined {
  return a.json?.error ?? a.json?.errors?.[0]?.extensions?.code;
}

function fieldOf(a: ApiAnswer): string | undefined {
  return a.json?.field ?? a.json?.errors?.[0]?.extensions?.field;
}

const messageOf = (a: ApiAnswer): string => a.json?.message ?? a.json?.errors?.[0]?.message ?? a.body;

for (const [table, rows] of [
  ["REST", REST_ROWS],
  ["GraphQL", GRAPHQL_ROWS],
] as const)
  describe(`attacks on the API (${table})`, () => {
    for (const row of rows)
      test(`attack: ${row.attack} → ${row.status} ${row.code}${row.field ? ` naming ${row.field}` : ""}`, async () => {
        const before = await snapshot();
        const gitSeen = git.requests.length;
        const a = await api(px, await row.send());
        assert.equal(a.status, row.status, a.body.slice(0, 500));
        assert.equal(codeOf(a), row.code, a.body.slice(0, 500));
        if (row.field) {
          assert.equal(fieldOf(a), row.field, a.body.slice(0, 500));
          assert.ok(messageOf(a).includes(row.field), `the message names ${row.field}: ${messageOf(a)}`);
        }
        assert.deepEqual(await snapshot(), before, "nothing created or changed");
        if (row.gitQuiet !== false)
          assert.equal(git.requests.length, gitSeen, "the git server was not asked");
        const v = await getWorkspace(c, nsOf("alice"), "victim");
        assert.equal(v.spec.running, false);
        assert.equal(v.spec.owner, "alice");
      });
  });

test("the tables hold at least 40 attacks", () => {
  assert.ok(REST_ROWS.length + GRAPHQL_ROWS.length >= 40, String(REST_ROWS.length + GRAPHQL_ROWS.length));
});
