/**
 * The API reference (docs/api.md), generated from the OpenAPI document (proxy/api/openapi.ts, the one
 * source of truth the proxy validates requests against and serves at /api/v1/openapi.json) and the
 * GraphQL schema (proxy/api/graphql.ts `graphqlSchemaText()`), so the reference cannot drift from
 * what the proxy does.
 *
 *   node scripts/api-reference.ts           writes docs/api.md   (npm run docs:api)
 *   node scripts/api-reference.ts --check   exits 1 (naming this command) when the file is stale
 *
 * The prose around the generated parts (where the API is served, authentication, conventions, the
 * seed-compatible paths) is written here, once; the routes, their parameters, bodies, responses and
 * curl examples (bearer token and cookie, for every route), the schemas, the error table and the
 * GraphQL SDL come from the document. `renderApiReference` is pure (document in, Markdown out).
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { graphqlSchemaText } from "../proxy/api/graphql.ts";
import { ERROR_CATALOGUE, OPENAPI, routes, type Route, type Schema } from "../proxy/api/openapi.ts";
import { code, runGenerator, text } from "./generated-doc.ts";

/** The command that regenerates the reference; named in the file's header and in `--check`'s message. */
export const COMMAND = "node scripts/api-reference.ts";
const REPO = fileURLToPath(new URL("..", import.meta.url));
export const OUTPUT = join(REPO, "docs", "api.md");

/** Example values of path parameters in the curl examples. */
const EXAMPLE_PARAMS: Record<string, string> = { ns: "ws-alice", name: "thesis", ide: "jupyterlab" };
/** Example bodies of operations whose schema has none (GraphQL). */
const EXAMPLE_BODIES: Record<string, unknown> = { graphql: { query: "{ myCodeServers { id status url } }" } };

interface Doc extends Schema {
  components: { schemas: Record<string, Schema>; responses: Record<string, Schema> };
  tags: { name: string; description: string }[];
}

const refName = (ref: unknown): string | undefined =>
  typeof ref === "string" ? /^#\/components\/(?:schemas|responses)\/(.+)$/.exec(ref)?.[1] : undefined;
const anchor = (s: string): string =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, "")
    .replace(/ /g, "-");
const link = (name: string): string => `[${name}](#${anchor(name)})`;

/** The parameter and body values of an operation's curl example. */
function example(r: Route): { url: string; body?: string; headers: string[] } {
  const url = r.path.replace(/\{([^}]+)\}/g, (_, p: string) => EXAMPLE_PARAMS[p] ?? p);
  const query = (r.op.parameters ?? [])
    .filter((p) => p.in === "query" && p.example !== undefined)
    .map((p) => `${String(p.name)}=${String(p.example)}`);
  const headers: string[] = [];
  const content = r.op.requestBody?.content;
  let body: string | undefined;
  if (content) {
    const [type, media] = Object.entries(content)[0]!;
    const ref = refName(media.schema.$ref);
    const schema = ref ? (OPENAPI as Doc).components.schemas[ref]! : media.schema;
    const value = (schema.examples as unknown[] | undefined)?.[0] ?? EXAMPLE_BODIES[r.op.operationId];
    body = JSON.stringify(value);
    headers.push(`-H 'Content-Type: ${type}'`);
  }
  if ((r.op.parameters ?? []).some((p) => p.name === "If-Match")) headers.push(`-H 'If-Match: "12345"'`);
  return { url: `${url}${query.length ? `?${query.join("&")}` : ""}`, ...(body ? { body } : {}), headers };
}

/** The curl commands of an operation: with a bearer token, and with the browser's session cookie. */
export function curlExamples(r: Route): string[] {
  const ex = example(r);
  const stream = r.op["x-portico-surface"] === "status" ? " -N" : "";
  const method = r.method === "GET" ? "" : ` -X ${r.method}`;
  const rest = [...ex.headers, ...(ex.body ? [`-d '${ex.body}'`] : [])].join(" ");
  const line = (auth: string) =>
    `curl -sS${stream}${method} ${auth}${rest ? ` ${rest}` : ""} "$PORTICO${ex.url}"`;
  return [
    "```sh",
    "# with an access token of the OpenID provider",
    line(`-H "Authorization: Bearer $TOKEN"`),
    "# with the browser's session cookie (no Origin header: curl is not a page of another origin)",
    line(`-b "portico_session=$SESSION"`),
    "```",
  ];
}

/** A schema's type in words, with a link when it is one of the document's named schemas. */
function typeOf(s: Schema): string {
  const ref = refName(s.$ref);
  if (ref) return link(ref);
  if (s.enum) return (s.enum as unknown[]).map((v) => code(JSON.stringify(v))).join(" \\| ");
  if (s.anyOf) return (s.anyOf as Schema[]).map(typeOf).join(" or ");
  if (s.type === "array") return `list of ${typeOf((s.items as Schema | undefined) ?? {})}`;
  if (s.type === "object" && typeof s.additionalProperties === "object")
    return `map of ${typeOf(s.additionalProperties as Schema)}`;
  const t = Array.isArray(s.type) ? s.type.join(" or ") : String(s.type ?? "any");
  return s.format ? `${t} (${String(s.format)})` : t;
}

/** What a value must be, in words: title, description, bounds, default. */
function what(s: Schema): string {
  const parts: string[] = [];
  if (typeof s.title === "string") parts.push(s.title);
  if (typeof s.description === "string") parts.push(s.description);
  const bound = (k: string, w: string) => s[k] !== undefined && parts.push(`${w} ${String(s[k])}`);
  bound("minimum", "at least");
  bound("maximum", "at most");
  bound("maxLength", "at most characters:");
  bound("maxItems", "at most items:");
  bound("maxProperties", "at most entries:");
  if (s.minProperties) parts.push("at least one field");
  if (s.uniqueItems) parts.push("no duplicates");
  if (s.default !== undefined) parts.push(`default ${code(JSON.stringify(s.default))}`);
  if (s.additionalProperties === false) parts.push("unknown fields refused");
  const joined = parts.map((p) => p.trim().replace(/\.$/, "")).join("; ");
  return text(joined.replace(/at most characters: (\d+)/, "at most $1 characters"));
}

/** The rows of an object schema's fields, nested objects flattened (`storage.size`). */
function fieldRows(s: Schema, prefix = ""): string[] {
  const required = new Set((s.required as string[] | undefined) ?? []);
  const rows: string[] = [];
  for (const [name, raw] of Object.entries((s.properties as Record<string, Schema> | undefined) ?? {})) {
    const path = `${prefix}${name}`;
    rows.push(`| ${code(path)} | ${typeOf(raw)} | ${required.has(name) ? "yes" : ""} | ${what(raw)} |`);
    if (raw.type === "object" && raw.properties) rows.push(...fieldRows(raw, `${path}.`));
  }
  return rows;
}

function renderSchema(name: string, s: Schema): string[] {
  const out = [`### ${name}`, ""];
  if (s.properties) {
    const about = what({ ...s, title: undefined, examples: undefined });
    if (about) out.push(about, "");
    out.push("| field | type | required | what |", "| --- | --- | --- | --- |", ...fieldRows(s), "");
  } else {
    out.push(`${typeOf(s)}: ${what(s)}`, "");
    if (typeof s.pattern === "string") out.push(`Pattern: ${code(s.pattern)}`, "");
    if (s.propertyNames)
      out.push(
        `Names: ${what(s.propertyNames as Schema)}, pattern ${code(String((s.propertyNames as Schema).pattern))}`,
        "",
      );
  }
  if (s.examples) out.push("```json", JSON.stringify((s.examples as unknown[])[0], null, 2), "```", "");
  return out;
}

function paramWhat(p: Schema): string {
  const d = (p.schema as Schema).default;
  const about = text(String(p.description)).replace(/\.$/, "");
  return d === undefined ? `${about}.` : `${about}; default ${code(JSON.stringify(d))}.`;
}

function renderParameters(r: Route): string[] {
  const params = r.op.parameters ?? [];
  if (!params.length) return [];
  return [
    "| parameter | in | type | required | what |",
    "| --- | --- | --- | --- | --- |",
    ...params.map(
      (p) =>
        `| ${code(String(p.name))} | ${String(p.in)} | ${typeOf(p.schema as Schema)} | ${p.required ? "yes" : ""} | ${paramWhat(p)} |`,
    ),
    "",
  ];
}

/** A route's answers: successes with their body and headers; refusals by status and code (see Errors). */
function renderResponses(r: Route): string[] {
  const rows = Object.entries(r.op.responses).map(([status, raw]) => {
    const ref = refName(raw.$ref);
    const res = ref ? (OPENAPI as Doc).components.responses[ref]! : raw;
    const content = res.content as Record<string, { schema: Schema }> | undefined;
    const body = content
      ? Object.entries(content)
          .map(([type, m]) => `${code(type)} ${typeOf(m.schema)}`)
          .join(", ")
      : "";
    const headers = Object.keys((res.headers as Schema | undefined) ?? {})
      .map(code)
      .join(", ");
    const when = ref ? codesOf(ref) : text(String(res.description));
    return `| ${status} | ${when} | ${body} | ${headers} |`;
  });
  return ["| status | when | body | headers |", "| --- | --- | --- | --- |", ...rows, ""];
}

/** The error codes a shared error response stands for (`429rate`: the proxy's rate limit only). */
function codesOf(ref: string): string {
  if (ref === "429rate") return `${code("rate_limited")} ([errors](#errors))`;
  const codes = Object.entries(ERROR_CATALOGUE).filter(([, [s]]) => String(s) === ref);
  return `${codes.map(([c]) => code(c)).join(", ")} ([errors](#errors))`;
}

function renderRoute(r: Route): string[] {
  const out = [`### ${r.method} ${r.path}`, "", `${text(r.op.summary)}.`, ""];
  const surface = r.op["x-portico-surface"];
  if (surface === "status")
    out.push("Served by the proxy's status surface (before the API), on the same hosts.", "");
  if (r.op.description) out.push(text(r.op.description), "");
  out.push(...renderParameters(r));
  const content = r.op.requestBody?.content;
  if (content) {
    const types = Object.keys(content).map(code).join(" or ");
    out.push(`Body (${types}): ${typeOf(Object.values(content)[0]!.schema)}.`, "");
  }
  out.push(...renderResponses(r), ...curlExamples(r), "");
  return out;
}

function renderIndex(all: Route[]): string[] {
  return [
    "| method | path | what |",
    "| --- | --- | --- |",
    ...all.map(
      (r) =>
        `| ${r.method} | [${code(r.path)}](#${anchor(`${r.method} ${r.path}`)}) | ${text(r.op.summary)} |`,
    ),
    "",
  ];
}

function renderErrors(): string[] {
  return [
    "| status | `error` | when |",
    "| --- | --- | --- |",
    ...Object.entries(ERROR_CATALOGUE)
      .sort(([a, [s]], [b, [t]]) => s - t || a.localeCompare(b))
      .map(([c, [status, when]]) => `| ${status} | ${code(c)} | ${text(when)} |`),
    "",
  ];
}

function renderGraphql(sdl: string | undefined): string[] {
  if (!sdl)
    return [
      "The GraphQL schema is not part of this build yet (proxy/api/graphql.ts is a placeholder that answers 501);",
      "this section is generated from `graphqlSchemaText()` once it is.",
      "",
    ];
  return ["```graphql", sdl.trim(), "```", ""];
}

/** docs/api.md from the document and the GraphQL SDL. Pure. */
export function renderApiReference(doc: Readonly<Schema>, sdl: string | undefined): string {
  const d = doc as Doc;
  const all = routes(doc);
  const lines = [
    `<!-- Generated by \`${COMMAND}\` (npm run docs:api) from proxy/api/openapi.ts and proxy/api/graphql.ts. Do not edit: change them and run it again. -->`,
    "",
    ...PROSE_TOP,
    "## Errors",
    "",
    ...PROSE_ERRORS,
    ...renderErrors(),
    ...PROSE_MIDDLE,
    "## Routes",
    "",
    ...renderIndex(all),
  ];
  for (const tag of d.tags) {
    const mine = all.filter((r) => r.op.tags[0] === tag.name);
    if (!mine.length) continue;
    lines.push(`## ${tag.name}`, "", text(tag.description), "");
    for (const r of mine) lines.push(...renderRoute(r));
  }
  lines.push(
    "## Schemas",
    "",
    "The request schemas are closed: a field not listed is refused (400 `invalid`, naming it).",
    "",
  );
  for (const [name, s] of Object.entries(d.components.schemas)) lines.push(...renderSchema(name, s));
  lines.push("## GraphQL schema", "", ...renderGraphql(sdl));
  return `${lines
    .join("\n")
    .replace(/\n{3,}/g, "\n\n")
    .trimEnd()}\n`;
}

export function main(argv: readonly string[]): number {
  return runGenerator(
    {
      command: COMMAND,
      output: OUTPUT,
      options: [],
      staleBecause: "proxy/api/openapi.ts or the GraphQL schema changed since it was generated",
      render: () => renderApiReference(OPENAPI, graphqlSchemaText()),
    },
    argv,
  );
}

// -- the hand-written parts --------------------------------------------------------------------------------

const PROSE_TOP = [
  "# Self-service API",
  "",
  "A user gets, starts, stops, syncs and deletes their IDEs without kubectl: REST under `/api/v1/`",
  "and GraphQL at `POST /graphql`, served by the proxy (its API surface, `proxy/surfaces/api.ts`) over",
  "one service layer. The proxy writes Workspace objects as its own ServiceAccount, with the owner",
  "taken from the caller's verified identity and never from the request; the namespace comes from",
  "`--api-namespace` (one namespace, or a template such as `ws-{user}`). The machine-readable",
  "description is the OpenAPI 3.1 document at `GET /api/v1/openapi.json`; requests are validated",
  "against it, and everything below the hand-written sections is generated from it.",
  "",
  "## Where, and who",
  "",
  "- **Hosts.** On the base domain and on any host that is not a workspace's own. On a workspace",
  "  host (`{name}--{namespace}.{base-domain}` in host mode) every path belongs to that IDE, these",
  "  included: an IDE's page cannot reach the API on its own origin.",
  "- **Off.** With `--api=false` (chart: `api.enabled: false`, a read-only proxy whose RBAC has no",
  "  write verb), or a proxy started without the service, no API route is served: the paths answer",
  '  the proxy\'s own `404 not_found` ("no workspace is routed at …"), GraphQL included.',
  "- **Identity.** Every route needs one: `Authorization: Bearer <access token>` (a JWT of the",
  "  OpenID provider, checked against its JWKS) or the browser's session cookie (`portico_session`,",
  "  `--session-cookie`, set by `/__portico/auth/login`). Without: `401 unauthenticated` (a browser",
  "  asking for HTML is sent to log in). Under `--auth=none` (the demo) every request is the demo user.",
  "- **Origin.** POST, PATCH and DELETE pass the proxy's origin check before anything runs: a",
  "  request from a page of another origin — another site, or a workspace's host, which shares the",
  "  base domain and so the cookie — is refused `403 cross_origin` and nothing reaches the service.",
  "  A client that sends no `Origin` (curl, scripts) passes. The API has no CORS and no allow-list.",
  "- **Other surfaces under /api/v1.** The status streams (`/api/v1/workspaces/{ns}/{name}/events`,",
  "  `/api/v1/analysis/events/{ide}`) are served by the status surface, which runs first; the",
  "  seed-compatible IDE path `/api/v1/connect/{namespace}/{owner}/{ide}/` by the workspace surface",
  "  (docs/proxy.md). The status streams are listed below with their event shape; the connect path is",
  "  not an API route.",
  "",
  "In the examples, `PORTICO` is the proxy's public URL (`https://portico.example.com`), `TOKEN` an",
  "access token, `SESSION` the session cookie's value.",
  "",
];

const PROSE_ERRORS = [
  "Every refusal is JSON with the status below: a machine-readable `error`, a `message` that says what",
  "to do, and `field`, the dotted path of the request field to blame, when there is one:",
  "",
  "```json",
  '{"error": "invalid", "message": "field storage.size must be a Kubernetes quantity such as 10Gi, 500m or 2", "field": "storage.size"}',
  "```",
  "",
  "Only the first problem is reported. Unknown fields are refused with the list of allowed ones. A bug",
  'answers `500 {"error": "internal", "message": "internal error"}` and is logged by the proxy (never',
  "with the request's credentials).",
  "",
];

const PROSE_MIDDLE = [
  "## Limits",
  "",
  "Per user, at most `--api-max-workspaces` workspaces and `--api-max-running` running ones (0: no",
  "limit; a class's `userLimits` may lower them for workspaces of that class). Past one, the answer is",
  "`429` with what to stop or delete:",
  "",
  "```json",
  "{",
  '  "error": "too_many_running",',
  '  "message": "Portico allows 2 running workspaces per user and you have 2: stop one of them first",',
  '  "reason": "running",',
  '  "limit": 2,',
  '  "current": 2,',
  '  "candidates": [{"namespace": "ws-alice", "name": "thesis", "phase": "Running", "lastActivity": "2026-12-01T10:00:00Z"}]',
  "}",
  "```",
  "",
  "The proxy's own rate limits (per user, per address) answer `429 rate_limited` with `Retry-After`.",
  "Request bodies are JSON (`Content-Type: application/json`; PATCH also",
  "`application/merge-patch+json`, RFC 7396), UTF-8, uncompressed, at most `--api-max-body-bytes`",
  "(default 64 KiB): else 415 or 413; a body that is not JSON is `400 bad_request`.",
  "",
  "## ETag and If-Match",
  "",
  'Answers that carry one workspace send `ETag: "<resourceVersion>"`. PATCH and DELETE honour',
  "`If-Match`: the workspace changes only if it is still at the version named (a list of tags: any of",
  'them; `*`: whatever version; a weak tag `W/"…"` never matches), else `412 precondition_failed` and',
  "nothing changed: GET it again, and retry on what is there now.",
  "",
  "```sh",
  'etag=$(curl -sS -o /dev/null -D - -H "Authorization: Bearer $TOKEN" "$PORTICO/api/v1/workspaces/ws-alice/thesis" | sed -n "s/^etag: //Ip" | tr -d "\\r")',
  "curl -sS -X PATCH -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/merge-patch+json' \\",
  '  -H "If-Match: $etag" -d \'{"idleTimeout": "4h"}\' "$PORTICO/api/v1/workspaces/ws-alice/thesis"',
  "```",
  "",
  "`POST …/start`, `…/stop` and `…/sync` answer `202 Accepted` with `Location` (the workspace in the",
  "API) and its ETag: the operator does the work; GET the Location, or follow the status stream, to",
  'see it happen. `POST /api/v1/workspaces` answers `201` with `Location`. Lists are `{"items": […]}`.',
  "Every answer is `Cache-Control: no-store`.",
  "",
  "Reads come from the proxy's watch caches, with the replica's own writes laid over them until its",
  "watch brings them: a list or a limit check right after a create, change or delete on the same",
  "replica sees it (common/runtime/recent-writes.ts). Another replica sees it when its watch does,",
  "normally within milliseconds.",
  "",
  "## The seed-compatible paths",
  "",
  "The system Portico replaces had one active IDE per user at `/api/v1/analysis`. The same paths:",
  "",
  "- `GET /api/v1/analysis`: the caller's active IDE — of the workspaces they own (not those shared",
  "  with them) that are meant to run (`running: true`), the most recently created; 404 when none.",
  '- `POST /api/v1/analysis` `{"ide": "<class>"}`: the caller\'s IDE of that class — created (201) when',
  "  they have none, else theirs (200; the running one first, else the newest, started if stopped).",
  "- `DELETE /api/v1/analysis`: deletes the active IDE (as GET picks it); its volume is kept unless",
  "  `?deleteVolume=true`. 204.",
  "- `GET /api/v1/analysis/options`: the classes, as `GET /api/v1/classes`.",
  "- `GET /api/v1/analysis/events/{ide}`: a status stream (below). It keeps the meaning it had before",
  "  the API: the oldest workspace of class `{ide}` in `--compat-namespace` (`?owner=` picks the",
  "  owner), which the caller must be allowed to open.",
  "",
  "## Metrics",
  "",
  "API requests are counted in `portico_proxy_requests_total` with `route` the route's template, never",
  "the raw path — `api:POST /api/v1/workspaces/{ns}/{name}/start`, `api:POST /graphql` — and",
  "`api:unknown` (no such route), `api:origin` (refused by the origin check); their latency is",
  '`portico_proxy_request_duration_seconds{kind="api"}`.',
  "`portico_api_instances{status}` counts workspaces by the status the API reports (PENDING, STARTING,",
  "RUNNING, STOPPING, STOPPED, ERROR), from the caches at scrape time, and",
  "`portico_api_provision_duration_seconds` (buckets 5, 10, 30, 60, 120, 300 s) times a provision that",
  "created a workspace until that workspace is Ready, on the replica that made it.",
  "",
  "## Provisioning by repository",
  "",
  "`POST /api/v1/provision` and GraphQL's `provisionCodeServer` take `{repoOwner, repoName}` on the",
  "git server `--git-server-url` names (chart `api.git.url`; off when unset):",
  "",
  "1. The names are checked against Gitea's rules (letters, digits, `-`, `_`, `.`; no `..`); a bad",
  "   one is `400 invalid` naming `repoOwner` or `repoName`, and nothing is asked.",
  "2. The git server's repository API (`GET {--git-api-url}/repos/{owner}/{repo}`, Gitea's shape) is",
  "   asked with the caller's own access token, forwarded as is (`Authorization: token …`); without",
  "   read access (403, 404, or `permissions.pull: false`) the answer is `403 repository_access_denied`",
  "   and nothing is created. One token everywhere: the provider's access token is the git server's.",
  "3. The caller's workspace for that repository is found by its name, which is derived from the",
  "   user and the repository (`{repo}-{hash}`), so every call and every proxy replica meets the same",
  "   one: it is returned (`isNew: false`, 200), started first if it was stopped; else it is created",
  "   (`isNew: true`, 201) with the class `--git-class`, cloning `{--git-server-url}/{owner}/{repo}.git`",
  "   with the Secret `--git-secret` (in the workspace's namespace) as clone credentials.",
  "",
  "## Sync",
  "",
  "`POST …/sync` (GraphQL `syncRepository`) asks the operator to fetch upstream into the running",
  "workspace and merge without losing the user's work: it sets the annotation",
  "`portico.dev/sync-requested` to a new request id and answers 202. The operator runs a one-shot",
  "sync pod (the git-clone step with the Secret, then a merge step without it) and reports in",
  "`status.sync` (`requested`, `state` Pending/Running/Succeeded/Failed, `commit`, `conflicts`), the",
  "`Synced` condition and an Event; the API shows it as the workspace's `sync`. The merge rules —",
  "upstream-only changes come in, the user's uncommitted and committed changes stay, a file changed on",
  "both sides keeps the user's version and is listed in `conflicts` — are in",
  "[operator.md](operator.md#repository-sync). A stopped workspace answers `409 conflict` (a start",
  "fetches too).",
  "",
  "## Keep-alive",
  "",
  '`POST …/keepalive` with `{"duration": "3h"}` (GraphQL `keepAliveCodeServer(id, duration)`) keeps',
  "the workspace from its idle stop until now + duration: the proxy sets the annotation",
  "`portico.dev/keep-alive-until` (a merge patch of that key only) and answers 200 with the workspace,",
  "`keepAliveUntil` set. The duration is a Go duration (`30m`, `3h`, `1h30m`) of at most the class's",
  "`idle.maxKeepAlive` (default 8h); longer or malformed is `422 unprocessable` with `field: duration`",
  "and the maximum in the message (GraphQL: `BAD_USER_INPUT`). `0s` cancels (the annotation goes).",
  "Only who may manage the workspace (its owner, an admin) may: a sharee gets 403, anyone else 404.",
  "The workspace's own code can ask the same without credentials through the proxy's in-workspace",
  'listener, `curl -X POST "$PORTICO_KEEP_ALIVE_URL?duration=3h"` ([lifecycle.md](lifecycle.md)).',
  "The views show `stopsAt`, `keepAliveUntil` and `idleStopped` (GraphQL fields of the same names).",
  "",
];

if (import.meta.main) process.exitCode = main(process.argv.slice(2));
