/**
 * The Portico API against a real API server: every bad input in the table is refused with 422 and a
 * message that names the offending field, every example manifest and fully populated sample is
 * accepted as written (strict field validation, so nothing is silently dropped), defaults are applied,
 * immutable fields stay immutable, and the status subresource validates status. Objects are created for
 * real (no dry run) in a fresh namespace; cluster-scoped WorkspaceClasses get unique names and are deleted
 * afterwards.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { parseAllDocuments } from "yaml";
import { sampleGatewayRoute, sampleWorkspace, sampleWorkspaceClass } from "../../crds/samples.ts";
import {
  API_VERSION,
  GATEWAY_ROUTE,
  GROUP,
  KINDS,
  VERSION,
  WORKSPACE,
  WORKSPACE_CLASS,
  type KindNames,
  type PorticoObject,
} from "../../crds/types.ts";
import {
  apiErrorCode,
  apiErrorMessage,
  clients,
  eventually,
  uniqueName,
  withNamespace,
  type Clients,
} from "../lib/kube.ts";

/** A manifest as sent: plain JSON, because bad inputs do not fit the types on purpose. */
type Manifest = { kind: string; metadata: { name?: string; namespace?: string }; [key: string]: unknown };
type Patch = Record<string, unknown>;

let c: Clients;
let ns: { name: string; drop: () => Promise<void> };
const clusterScoped: string[] = [];

before(async () => {
  c = clients();
  // The harness applies crds/*.yaml; wait until the API server serves all three kinds.
  for (const k of KINDS) {
    await eventually(`CRD ${k.plural}.${GROUP} Established`, async () => {
      const crd = await c.apiext.readCustomResourceDefinition({ name: `${k.plural}.${GROUP}` });
      return (
        crd.status?.conditions?.some((x) => x.type === "Established" && x.status === "True") || undefined
      );
    });
  }
  ns = await withNamespace(c, "api-validation");
});

after(async () => {
  for (const name of clusterScoped) await remove(WORKSPACE_CLASS, name).catch(() => undefined);
  await ns?.drop();
});

// ---------------------------------------------------------------------------------------------------------
// A thin client over the three kinds, hiding namespaced vs cluster-scoped.

const kindOf = (kind: string): KindNames => {
  const names = KINDS.find((k) => k.kind === kind);
  if (!names) throw new Error(`not a Portico kind: ${kind}`);
  return names;
};
/** The group/version/plural part of every custom-object request. */
const resource = (names: KindNames) => ({ group: GROUP, version: VERSION, plural: names.plural });

/** Creates for real, refusing unknown fields (so a typo fails instead of being pruned). */
async function create(manifest: Manifest, fieldValidation = "Strict"): Promise<Manifest> {
  const names = kindOf(manifest.kind);
  const body = { ...manifest, metadata: { ...manifest.metadata } };
  if (!names.namespaced) {
    if (body.metadata.name) clusterScoped.push(body.metadata.name);
    return c.custom.createClusterCustomObject({ ...resource(names), body, fieldValidation });
  }
  body.metadata.namespace = ns.name;
  return c.custom.createNamespacedCustomObject({
    ...resource(names),
    namespace: ns.name,
    body,
    fieldValidation,
  });
}

async function read(names: KindNames, name: string): Promise<Manifest> {
  return names.namespaced
    ? c.custom.getNamespacedCustomObject({ ...resource(names), namespace: ns.name, name })
    : c.custom.getClusterCustomObject({ ...resource(names), name });
}

async function replace(body: Manifest): Promise<Manifest> {
  const names = kindOf(body.kind);
  const name = body.metadata.name!;
  return names.namespaced
    ? c.custom.replaceNamespacedCustomObject({ ...resource(names), namespace: ns.name, name, body })
    : c.custom.replaceClusterCustomObject({ ...resource(names), name, body });
}

async function replaceStatus(body: Manifest): Promise<Manifest> {
  const names = kindOf(body.kind);
  const name = body.metadata.name!;
  return names.namespaced
    ? c.custom.replaceNamespacedCustomObjectStatus({ ...resource(names), namespace: ns.name, name, body })
    : c.custom.replaceClusterCustomObjectStatus({ ...resource(names), name, body });
}

async function remove(names: KindNames, name: string): Promise<void> {
  if (names.namespaced) {
    await c.custom.deleteNamespacedCustomObject({ ...resource(names), namespace: ns.name, name });
  } else {
    await c.custom.deleteClusterCustomObject({ ...resource(names), name });
  }
}

/** Awaits a request that must be refused; returns the HTTP code and the API server's message. */
async function refused(request: Promise<unknown>): Promise<{ code: number | undefined; message: string }> {
  try {
    await request;
  } catch (err) {
    return { code: apiErrorCode(err), message: apiErrorMessage(err) };
  }
  assert.fail("the API server accepted it");
}

// ---------------------------------------------------------------------------------------------------------
// Valid bases and JSON merge patches (RFC 7386: null deletes, lists are replaced whole).

function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    typeof target === "object" && target !== null && !Array.isArray(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

const object = (kind: string, spec: Patch): Manifest => ({
  apiVersion: API_VERSION,
  kind,
  metadata: {},
  spec,
});
const workspace = (patch: Patch = {}) =>
  object(WORKSPACE.kind, mergePatch({ owner: "alice", className: "vscode" }, patch) as Patch);
const workspaceClass = (patch: Patch = {}) =>
  object(
    WORKSPACE_CLASS.kind,
    mergePatch({ image: "registry.example.com/ide:1", port: 8080 }, patch) as Patch,
  );
const baseRule = { backends: [{ service: { name: "web", port: 80 } }] };
const route = (patch: Patch = {}) =>
  object(GATEWAY_ROUTE.kind, mergePatch({ hosts: ["app.example.com"], rules: [baseRule] }, patch) as Patch);
/** A route whose only rule is the base rule with `patch` merged in. */
const rule = (patch: Patch) => route({ rules: [mergePatch(baseRule, patch)] });
const match = (m: Patch) => rule({ matches: [m] });

// ---------------------------------------------------------------------------------------------------------
// The bad-input table: what is sent, the field the API server's message must name, and (for rules whose
// wording is ours) what the message must say.

interface BadInput {
  name: string;
  manifest: Manifest;
  field: string;
  says?: RegExp;
}

const bad: BadInput[] = [
  // Workspace
  {
    name: "missing owner",
    manifest: workspace({ owner: null }),
    field: "spec.owner",
    says: /Required value/,
  },
  { name: "owner with a space", manifest: workspace({ owner: "alice smith" }), field: "spec.owner" },
  {
    name: "neither className nor ide",
    manifest: workspace({ className: null }),
    field: "spec.className",
    says: /set className .* or its alias ide/,
  },
  { name: "invalid class name", manifest: workspace({ className: "Not_A_Class" }), field: "spec.className" },
  {
    name: "ide naming another class than className",
    manifest: workspace({ ide: "jupyterlab" }),
    field: "spec.ide",
    says: /must name the same WorkspaceClass/,
  },
  {
    name: "malformed storage quantity",
    manifest: workspace({ storage: { size: "ten" } }),
    field: "spec.storage.size",
  },
  {
    name: "negative storage size",
    manifest: workspace({ storage: { size: "-1Gi" } }),
    field: "spec.storage.size",
  },
  {
    name: "zero storage size",
    manifest: workspace({ storage: { size: "0" } }),
    field: "spec.storage.size",
    says: /greater than zero/,
  },
  {
    name: "unknown reclaimPolicy",
    manifest: workspace({ storage: { reclaimPolicy: "Recycle" } }),
    field: "spec.storage.reclaimPolicy",
    says: /Unsupported value/,
  },
  {
    name: "bad storage scope",
    manifest: workspace({ storage: { scope: "team" } }),
    field: "spec.storage.scope",
  },
  { name: "negative idle timeout", manifest: workspace({ idleTimeout: "-5m" }), field: "spec.idleTimeout" },
  {
    name: "idle timeout in words",
    manifest: workspace({ idleTimeout: "30 minutes" }),
    field: "spec.idleTimeout",
  },
  {
    name: "repository URL that is not a URL",
    manifest: workspace({ repository: { url: "not a url" } }),
    field: "spec.repository.url",
    says: /must be a git URL/,
  },
  {
    name: "repository URL with a password in it",
    manifest: workspace({ repository: { url: "https://alice:hunter2@git.example.com/r.git" } }),
    field: "spec.repository.url",
    says: /must not carry credentials/,
  },
  {
    name: "repository ref climbing out with ..",
    manifest: workspace({ repository: { url: "https://git.example.com/r.git", ref: "main..evil" } }),
    field: "spec.repository.ref",
  },
  {
    name: "memory limit below its request",
    manifest: workspace({ resources: { requests: { memory: "2Gi" }, limits: { memory: "1Gi" } } }),
    field: "spec.resources.limits",
    says: /every limit must be at least the matching request/,
  },
  {
    name: "malformed cpu request",
    manifest: workspace({ resources: { requests: { cpu: "lots" } } }),
    field: "spec.resources.requests.cpu",
  },
  {
    name: "user shared with twice",
    manifest: workspace({ sharedWith: { users: ["bob", "bob"] } }),
    field: "spec.sharedWith.users[1]",
    says: /Duplicate value/,
  },
  { name: "running as a string", manifest: workspace({ running: "yes" }), field: "spec.running" },

  // WorkspaceClass
  { name: "WorkspaceClass missing image", manifest: workspaceClass({ image: null }), field: "spec.image" },
  { name: "WorkspaceClass port 0", manifest: workspaceClass({ port: 0 }), field: "spec.port" },
  { name: "WorkspaceClass port 70000", manifest: workspaceClass({ port: 70000 }), field: "spec.port" },
  { name: "WorkspaceClass missing port", manifest: workspaceClass({ port: null }), field: "spec.port" },
  {
    name: "relative mountPath",
    manifest: workspaceClass({ storage: { mountPath: "home/coder" } }),
    field: "spec.storage.mountPath",
  },
  {
    name: "readinessPath without a leading slash",
    manifest: workspaceClass({ readinessPath: "healthz" }),
    field: "spec.readinessPath",
    says: /must start with '\/' or '\{prefix\}'/,
  },
  {
    name: "env var name with a space",
    manifest: workspaceClass({ env: [{ name: "MY VAR", value: "1" }] }),
    field: "spec.env[0].name",
  },
  {
    name: "base path header name with a space",
    manifest: workspaceClass({ basePath: { requestHeaders: [{ name: "X Root", value: "{prefix}" }] } }),
    field: "spec.basePath.requestHeaders[0].name",
  },
  {
    name: "unknown imagePullPolicy",
    manifest: workspaceClass({ imagePullPolicy: "Sometimes" }),
    field: "spec.imagePullPolicy",
  },
  {
    name: "idle probe polled more often than every 5 s",
    manifest: workspaceClass({ idle: { probe: { path: "/api/status", interval: "1s" } } }),
    field: "spec.idle.probe.interval",
    says: /must be at least 5s/,
  },
  {
    name: "idle probe path without a leading slash (another host)",
    manifest: workspaceClass({ idle: { probe: { path: "@169.254.169.254/latest" } } }),
    field: "spec.idle.probe.path",
    says: /must start with '\/' or '\{prefix\}'/,
  },
  {
    name: "idle probe without a path",
    manifest: workspaceClass({ idle: { probe: { lastActivityField: "last_activity" } } }),
    field: "spec.idle.probe.path",
  },
  {
    name: "idle probe busy field that is not a dotted name",
    manifest: workspaceClass({ idle: { probe: { path: "/s", busy: { field: "a[0]", value: "busy" } } } }),
    field: "spec.idle.probe.busy.field",
  },
  {
    name: "negative WebSocket activity threshold",
    manifest: workspaceClass({ idle: { ignoreWebSocketMessagesUpTo: -1 } }),
    field: "spec.idle.ignoreWebSocketMessagesUpTo",
  },
  {
    name: "malformed warning lead time",
    manifest: workspaceClass({ idle: { warnBefore: "five minutes" } }),
    field: "spec.idle.warnBefore",
  },
  {
    name: "malformed longest keep-alive",
    manifest: workspaceClass({ idle: { maxKeepAlive: "1d" } }),
    field: "spec.idle.maxKeepAlive",
  },
  {
    name: "malformed class idle timeout",
    manifest: workspaceClass({ idleTimeout: "1d" }),
    field: "spec.idleTimeout",
  },
  {
    name: "negative bound on storage",
    manifest: workspaceClass({ bounds: { maxStorage: "-1Gi" } }),
    field: "spec.bounds.maxStorage",
  },
  {
    name: "malformed bound on idle timeout",
    manifest: workspaceClass({ bounds: { maxIdleTimeout: "1d" } }),
    field: "spec.bounds.maxIdleTimeout",
  },
  {
    name: "negative per-user running limit",
    manifest: workspaceClass({ userLimits: { maxRunning: -1 } }),
    field: "spec.userLimits.maxRunning",
  },

  // GatewayRoute
  { name: "empty rules", manifest: route({ rules: [] }), field: "spec.rules" },
  { name: "missing rules", manifest: route({ rules: null }), field: "spec.rules" },
  { name: "invalid host", manifest: route({ hosts: ["Bad_Host.example.com"] }), field: "spec.hosts[0]" },
  {
    name: "wildcard in the middle of a host",
    manifest: route({ hosts: ["api.*.example.com"] }),
    field: "spec.hosts[0]",
  },
  {
    name: "backend with neither service nor url",
    manifest: rule({ backends: [{ weight: 1 }] }),
    field: "spec.rules[0].backends[0].service",
    says: /a backend needs either service or url/,
  },
  {
    name: "backend with both service and url",
    manifest: rule({ backends: [{ service: { name: "web", port: 80 }, url: "http://web.example.com" }] }),
    field: "spec.rules[0].backends[0].url",
    says: /mutually exclusive/,
  },
  {
    name: "weight out of range",
    manifest: rule({ backends: [{ service: { name: "web", port: 80 }, weight: 1001 }] }),
    field: "spec.rules[0].backends[0].weight",
  },
  {
    name: "negative weight",
    manifest: rule({ backends: [{ service: { name: "web", port: 80 }, weight: -1 }] }),
    field: "spec.rules[0].backends[0].weight",
  },
  {
    name: "every backend weighted 0",
    manifest: rule({ backends: [{ service: { name: "web", port: 80 }, weight: 0 }] }),
    field: "spec.rules[0].backends",
    says: /at least one backend needs a weight above 0/,
  },
  {
    name: "public rule that also lists users",
    manifest: rule({ public: true, users: ["alice"] }),
    field: "spec.rules[0].public",
    says: /public: true serves everyone; it excludes users and groups/,
  },
  {
    name: "public rule that also lists groups",
    manifest: rule({ public: true, groups: ["team-a"] }),
    field: "spec.rules[0].public",
    says: /excludes users and groups/,
  },
  {
    name: "service port 0",
    manifest: rule({ backends: [{ service: { name: "web", port: 0 } }] }),
    field: "spec.rules[0].backends[0].service.port",
  },
  {
    name: "backend URL that is not http(s)",
    manifest: rule({ backends: [{ url: "ftp://files.example.com" }] }),
    field: "spec.rules[0].backends[0].url",
    says: /http:\/\/ or https:\/\//,
  },
  {
    name: "unknown load-balancing strategy",
    manifest: rule({ loadBalancer: { strategy: "Random" } }),
    field: "spec.rules[0].loadBalancer.strategy",
    says: /Unsupported value/,
  },
  {
    name: "ConsistentHash without hashOn",
    manifest: rule({ loadBalancer: { strategy: "ConsistentHash" } }),
    field: "spec.rules[0].loadBalancer.hashOn",
    says: /needs hashOn/,
  },
  {
    name: "hashOn with RoundRobin",
    manifest: rule({ loadBalancer: { strategy: "RoundRobin", hashOn: { header: "X-User" } } }),
    field: "spec.rules[0].loadBalancer.hashOn",
    says: /only to strategy ConsistentHash/,
  },
  {
    name: "hashOn both header and cookie",
    manifest: rule({
      loadBalancer: { strategy: "ConsistentHash", hashOn: { header: "X-User", cookie: "s" } },
    }),
    field: "spec.rules[0].loadBalancer.hashOn.header",
    says: /exactly one of header or cookie/,
  },
  {
    name: "path not starting with '/'",
    manifest: match({ path: { type: "PathPrefix", value: "api" } }),
    field: "spec.rules[0].matches[0].path.value",
    says: /must start with '\/'/,
  },
  {
    name: "path with a .. segment",
    manifest: match({ path: { value: "/a/../admin" } }),
    field: "spec.rules[0].matches[0].path.value",
  },
  {
    name: "unknown path match type",
    manifest: match({ path: { type: "Regex", value: "/a" } }),
    field: "spec.rules[0].matches[0].path.type",
  },
  {
    name: "bad method",
    manifest: match({ methods: ["FETCH"] }),
    field: "spec.rules[0].matches[0].methods[0]",
  },
  {
    name: "bad header name in a match",
    manifest: match({ headers: [{ name: "Bad Header", value: "x" }] }),
    field: "spec.rules[0].matches[0].headers[0].name",
  },
  {
    name: "rewrite on an Exact match",
    manifest: rule({ matches: [{ path: { type: "Exact", value: "/a" } }], rewrite: { stripPrefix: true } }),
    field: "spec.rules[0].rewrite",
    says: /PathPrefix/,
  },
  {
    name: "rewrite both stripping and replacing the prefix",
    manifest: rule({ rewrite: { stripPrefix: true, replacePrefix: "/v2" } }),
    field: "spec.rules[0].rewrite.replacePrefix",
    says: /mutually exclusive/,
  },
  {
    name: "replacePrefix without a leading slash",
    manifest: rule({ rewrite: { replacePrefix: "v2" } }),
    field: "spec.rules[0].rewrite.replacePrefix",
  },
  { name: "empty rewrite", manifest: rule({ rewrite: {} }), field: "spec.rules[0].rewrite" },
  {
    name: "bad header name to set",
    manifest: rule({ requestHeaders: { set: [{ name: "X Bad", value: "1" }] } }),
    field: "spec.rules[0].requestHeaders.set[0].name",
  },
  {
    name: "header value with a line break (response splitting)",
    manifest: rule({ responseHeaders: { add: [{ name: "X-A", value: "a\r\nSet-Cookie: x=y" }] } }),
    field: "spec.rules[0].responseHeaders.add[0].value",
  },
  {
    name: "malformed request timeout",
    manifest: rule({ timeouts: { request: "10 seconds" } }),
    field: "spec.rules[0].timeouts.request",
  },
  {
    name: "zero connect timeout",
    manifest: rule({ timeouts: { connect: "0s" } }),
    field: "spec.rules[0].timeouts.connect",
    says: /greater than 0s/,
  },
  {
    name: "connect timeout longer than the request timeout",
    manifest: rule({ timeouts: { request: "5s", connect: "10s" } }),
    field: "spec.rules[0].timeouts.connect",
    says: /must not exceed request/,
  },
  {
    name: "retries out of range",
    manifest: rule({ retries: { attempts: 11 } }),
    field: "spec.rules[0].retries.attempts",
  },
  {
    name: "unknown retry condition",
    manifest: rule({ retries: { retryOn: ["Always"] } }),
    field: "spec.rules[0].retries.retryOn[0]",
  },
  {
    name: "health check timeout longer than its interval",
    manifest: rule({ healthCheck: { active: { interval: "5s", timeout: "10s" } } }),
    field: "spec.rules[0].healthCheck.active.timeout",
    says: /must not exceed interval/,
  },
  {
    name: "health check threshold 0",
    manifest: rule({ healthCheck: { active: { healthyThreshold: 0 } } }),
    field: "spec.rules[0].healthCheck.active.healthyThreshold",
  },
  {
    name: "expected status 600",
    manifest: rule({ healthCheck: { active: { expectedStatuses: [600] } } }),
    field: "spec.rules[0].healthCheck.active.expectedStatuses[0]",
  },
  { name: "empty health check", manifest: rule({ healthCheck: {} }), field: "spec.rules[0].healthCheck" },
  {
    name: "circuit breaker open for 0s",
    manifest: rule({ circuitBreaker: { openDuration: "0s" } }),
    field: "spec.rules[0].circuitBreaker.openDuration",
    says: /greater than 0s/,
  },
  {
    name: "rate limit 0",
    manifest: rule({ rateLimit: { requestsPerSecond: 0 } }),
    field: "spec.rules[0].rateLimit.requestsPerSecond",
  },
  {
    name: "rate limit keyed on something unknown",
    manifest: rule({ rateLimit: { requestsPerSecond: 10, key: "Cookie" } }),
    field: "spec.rules[0].rateLimit.key",
  },
  { name: "maxBodyBytes 0", manifest: rule({ maxBodyBytes: 0 }), field: "spec.rules[0].maxBodyBytes" },
  {
    name: "two rules with the same name",
    manifest: route({
      rules: [
        { ...baseRule, name: "a" },
        { ...baseRule, name: "a" },
      ],
    }),
    field: "spec.rules",
    says: /rule names must be unique/,
  },
];

describe("the API server refuses bad input and names the field", () => {
  test("the table covers all three kinds with enough rows", () => {
    assert.ok(bad.length >= 24, `${bad.length} rows`);
    for (const k of KINDS)
      assert.ok(
        bad.some((row) => row.manifest.kind === k.kind),
        k.kind,
      );
  });

  bad.forEach((row, i) => {
    test(`${row.manifest.kind}: ${row.name} → ${row.field}`, async (t) => {
      const manifest = { ...row.manifest, metadata: { name: uniqueName(`bad-${i}`) } };
      const { code, message } = await refused(create(manifest));
      assert.ok(code === 422 || code === 400, `HTTP ${code}: ${message}`);
      // The API server writes each error as "<field path>: <what is wrong>".
      assert.ok(message.includes(`${row.field}: `), `message should name ${row.field}: ${message}`);
      if (row.says) assert.match(message, row.says);
      t.diagnostic(message); // what a kubectl user sees
    });
  });
});

describe("the API server accepts good input", () => {
  // The API's examples, and the WorkspaceClasses the Helm chart installs.
  const examples = ["../../crds/examples/", "../../charts/portico/files/workspaceclasses/"].flatMap((d) => {
    const dir = new URL(d, import.meta.url);
    return readdirSync(dir)
      .filter((f) => f.endsWith(".yaml"))
      .map((f) => new URL(f, dir));
  });
  for (const url of examples) {
    const file = url.pathname.split("/").slice(-2).join("/");
    test(`example ${file} is accepted as written, then deleted`, async () => {
      const docs = parseAllDocuments(readFileSync(url, "utf8")).map((d) => d.toJS() as Manifest);
      for (const doc of docs) {
        const names = kindOf(doc.kind);
        // Cluster-scoped classes get a unique name so parallel test files never collide.
        const name = names.namespaced ? doc.metadata.name! : uniqueName(doc.metadata.name!);
        await create({ ...doc, metadata: { ...doc.metadata, name } });
        const stored = await read(names, name);
        assert.equal(stored.metadata.name, name);
        await remove(names, name);
      }
    });
  }

  const samples: [KindNames, () => PorticoObject][] = [
    [WORKSPACE, sampleWorkspace],
    [WORKSPACE_CLASS, sampleWorkspaceClass],
    [GATEWAY_ROUTE, sampleGatewayRoute],
  ];
  for (const [names, sample] of samples) {
    test(`a fully populated ${names.kind} is stored as sent, status included`, async () => {
      const full = sample() as unknown as Manifest & { spec: unknown; status: unknown };
      const name = uniqueName("full");
      const created = (await create({ ...full, metadata: { name }, status: undefined })) as typeof full;
      assert.deepEqual(created.spec, full.spec, "spec round-trips unchanged");
      const withStatus = (await replaceStatus({ ...created, status: full.status })) as typeof full;
      assert.deepEqual(withStatus.status, full.status, "status round-trips unchanged");
      await remove(names, name);
    });
  }

  test("a minimal Workspace gets its defaults", async () => {
    const created = (await create({ ...workspace(), metadata: { name: "defaults" } })) as Manifest & {
      spec: Patch;
    };
    assert.deepEqual(created.spec, {
      owner: "alice",
      className: "vscode",
      running: true,
      storage: { reclaimPolicy: "Retain", scope: "workspace" },
    });
  });

  test("a minimal WorkspaceClass gets its defaults", async () => {
    const name = uniqueName("defaults");
    const created = (await create({ ...workspaceClass(), metadata: { name } })) as Manifest & { spec: Patch };
    assert.deepEqual(created.spec, {
      image: "registry.example.com/ide:1",
      port: 8080,
      storage: { mountPath: "/home/coder" },
      basePath: { stripPrefix: false, rewriteLocation: false, rewriteCookiePath: false },
      forwardToken: false,
      readinessPath: "/",
      git: { allowedProtocols: ["https", "ssh"] },
      idle: { warnBefore: "5m", maxKeepAlive: "8h", ignoreWebSocketMessagesUpTo: 0 },
    });
  });

  test("a GatewayRoute gets its defaults, nested ones included", async () => {
    const manifest = rule({
      loadBalancer: {},
      retries: {},
      healthCheck: { active: {}, passive: {} },
      circuitBreaker: {},
      rateLimit: { requestsPerSecond: 10 },
      matches: [{ headers: [{ name: "X-A", value: "1" }] }, { path: {} }],
    });
    const created = (await create({ ...manifest, metadata: { name: "defaults" } })) as Manifest & {
      spec: { rules: Patch[] };
    };
    assert.deepEqual(created.spec.rules[0], {
      matches: [
        { headers: [{ name: "X-A", value: "1", type: "Exact" }] },
        { path: { type: "PathPrefix", value: "/" } },
      ],
      backends: [{ service: { name: "web", port: 80 }, weight: 1 }],
      loadBalancer: { strategy: "RoundRobin" },
      retries: { attempts: 1, retryOn: ["ConnectFailure"] },
      healthCheck: {
        active: { path: "/", interval: "10s", timeout: "2s", healthyThreshold: 2, unhealthyThreshold: 3 },
        passive: { consecutiveErrors: 5, ejectionTime: "30s" },
      },
      circuitBreaker: { consecutiveFailures: 5, openDuration: "30s", halfOpenRequests: 1 },
      rateLimit: { requestsPerSecond: 10, key: "ClientIP" },
      websocket: true,
      forwardToken: false,
      public: false,
    });
    const bare = (await create({ ...route(), metadata: { name: "defaults-bare" } })) as Manifest & {
      spec: { rules: Patch[] };
    };
    assert.deepEqual(bare.spec.rules[0]?.matches, [{ path: { type: "PathPrefix", value: "/" } }]);
  });

  test("unknown fields are pruned, not stored, when the client does not ask for strict validation", async () => {
    const created = (await create(
      { ...workspace({ ownr: "typo" }), metadata: { name: "pruned" } },
      "Ignore",
    )) as Manifest & {
      spec: Patch;
    };
    assert.equal(created.spec.ownr, undefined);
  });
});

describe("updates keep what must not change", () => {
  async function createWorkspace(name: string, patch: Patch): Promise<Manifest & { spec: Patch }> {
    return (await create({ ...workspace(patch), metadata: { name } })) as Manifest & { spec: Patch };
  }
  async function update(current: Manifest & { spec: Patch }, patch: Patch): Promise<Manifest> {
    return replace({ ...current, spec: mergePatch(current.spec, patch) as Patch });
  }

  test("owner is immutable", async () => {
    const ws = await createWorkspace("immutable-owner", {});
    const { code, message } = await refused(update(ws, { owner: "mallory" }));
    assert.equal(code, 422);
    assert.match(message, /spec\.owner: .*owner is immutable/);
  });

  test("storage may grow but never shrink; scope and storageClassName stay", async () => {
    let ws = await createWorkspace("storage-rules", {
      storage: { size: "10Gi", storageClassName: "local-dir" },
    });
    const shrink = await refused(update(ws, { storage: { size: "5Gi" } }));
    assert.match(shrink.message, /spec\.storage\.size: .*cannot shrink/);
    ws = (await update(ws, { storage: { size: "20Gi" } })) as typeof ws;
    assert.deepEqual((ws.spec.storage as Patch).size, "20Gi");
    const scope = await refused(update(ws, { storage: { scope: "user" } }));
    assert.match(scope.message, /spec\.storage\.scope: .*scope is immutable/);
    const sc = await refused(update(ws, { storage: { storageClassName: "fast" } }));
    assert.match(sc.message, /spec\.storage\.storageClassName: .*immutable/);
  });

  test("other fields change freely (stop, resize resources, share)", async () => {
    const ws = await createWorkspace("mutable", {});
    const updated = (await update(ws, {
      running: false,
      resources: { limits: { memory: "8Gi" } },
      sharedWith: { users: ["bob"] },
    })) as Manifest & { spec: Patch };
    assert.equal(updated.spec.running, false);
  });

  test("the status subresource validates status and names the field", async () => {
    const ws = await createWorkspace("bad-status", {});
    const phase = await refused(replaceStatus({ ...ws, status: { phase: "Exploded" } }));
    assert.equal(phase.code, 422);
    assert.match(phase.message, /status\.phase: Unsupported value: "Exploded"/);
    const condition = {
      type: "Ready",
      status: "Maybe",
      reason: "Testing",
      message: "",
      lastTransitionTime: "2026-01-01T00:00:00Z",
    };
    const cond = await refused(replaceStatus({ ...ws, status: { conditions: [condition] } }));
    assert.match(cond.message, /status\.conditions\[0\]\.status: Unsupported value: "Maybe"/);
    const sync = await refused(
      replaceStatus({ ...ws, status: { sync: { requested: "r1", state: "Exploded" } } }),
    );
    assert.match(sync.message, /status\.sync\.state: Unsupported value: "Exploded"/);
  });
});
