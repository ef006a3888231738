/**
 * The console's resource views end to end (issue 14, item 5): a real API server whose RBAC decides by
 * SubjectAccessReview as the user, the real OpenID provider (bearer tokens and a browser session), and
 * the proxy as the chart's ServiceAccount under the chart's console.resources rules.
 *
 * - alice lists pods, services and configmaps in her namespace (by Role bound to her user name), sees
 *   views (no managedFields, no last-applied copy), and is refused with 403 in bob's;
 * - /api/cluster names her, the real Kubernetes version, and only the namespaces and kinds her RBAC
 *   lets her list; counts agree with what the API server holds;
 * - a Secret's list shows key names and no value; reveal works for alice (her Role allows get
 *   secrets) and is logged without the value; carol, whose group may list but not get secrets, sees
 *   the keys and is refused the reveal.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { api, sessionCookie, userNamespaces, type ApiAnswer } from "../lib/api-client.ts";
import {
  ALICE_SECRET_VALUE,
  BOB_SECRET_VALUE,
  seedResources,
  startResourcesProxy,
} from "../lib/console-resources.ts";
import { kubectl } from "../lib/workspaces.ts";
import { uniqueName } from "../lib/kube.ts";
import { startOidcProvider, type OidcProvider } from "../lib/oidc.ts";
import type { ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";

const PROVIDER = "198.18.0.170";
const PROXY = "198.18.0.171";
const PUBLIC = "http://portico.test:8080";

const suite = clusterSuite("console-res", { operator: false });
const prefix = uniqueName("cres");
const A = `${prefix}-alice`;
const B = `${prefix}-bob`;
let idp: OidcProvider;
let px: ProxyProcess;
const tokens = new Map<string, string>();

before(async () => {
  await suite.ready();
  await userNamespaces(suite, prefix, ["alice", "bob"]);
  await seedResources(suite.c, A, B);
  idp = await startOidcProvider({
    address: PROVIDER,
    port: 9000,
    redirectUris: [`${PUBLIC}/__portico/auth/callback`],
    name: "console-res-oidc",
  });
  suite.onTeardown(() => idp.stop());
  px = await startResourcesProxy(idp, {
    address: PROXY,
    name: "console-res-proxy",
    publicUrl: PUBLIC,
    extra: ["--console-reveal-secrets=true"],
  });
  suite.onTeardown(() => px.stop());
  for (const user of ["alice", "bob", "carol"]) tokens.set(user, (await idp.tokensFor(user)).accessToken);
});

const get = (user: string, path: string) => api(px, { path, token: tokens.get(user)! });

/** 200 and JSON; the body never carries managedFields, a last-applied copy or the other user's secret. */
function ok(a: ApiAnswer): ApiAnswer["json"] {
  assert.equal(a.status, 200, a.body);
  assert.match(String(a.headers["content-type"]), /application\/json/);
  assert.equal(a.headers["cache-control"], "no-store");
  for (const never of ["managedFields", "last-applied-configuration", BOB_SECRET_VALUE])
    assert.ok(!a.body.includes(never), `${never} in ${a.body.slice(0, 300)}`);
  return a.json;
}
const names = (items: { name: string }[]) => items.map((i) => i.name).sort();

test("alice lists pods, services and configmaps in her namespace: views, as her Role allows", async () => {
  const pods = ok(await get("alice", `/api/resources/pods?ns=${A}`));
  assert.deepEqual(names(pods.items), ["web"]);
  assert.equal(pods.items[0].namespace, A);
  assert.equal(pods.items[0].containers[0].image, "busybox:1.36");
  assert.ok(!JSON.stringify(pods).includes(ALICE_SECRET_VALUE), "a pod's env is not in its view");
  const services = ok(await get("alice", `/api/resources/services?ns=${A}`));
  assert.deepEqual(names(services.items), ["web"]);
  assert.deepEqual(services.items[0].ports, [{ port: 80, protocol: "TCP", targetPort: 8080 }]);
  const cms = ok(await get("alice", `/api/resources/configmaps?ns=${A}`));
  assert.deepEqual(
    cms.items.find((i: { name: string }) => i.name === "settings").data,
    { theme: "alice-dark" },
    "ConfigMaps show their data",
  );
  const one = ok(await get("alice", `/api/resource/pods/web?ns=${A}`));
  assert.equal(one.name, "web");
  assert.deepEqual(one.labels, { app: "web" });
  // Without ns: only the namespaces her RBAC lets her list pods in.
  // (Other e2e files on the same cluster may bind "alice" elsewhere: only hers and bob's are asserted.)
  const everywhere = ok(await get("alice", "/api/resources/pods"));
  assert.ok(everywhere.namespaces.includes(A) && !everywhere.namespaces.includes(B), everywhere.namespaces);
  assert.deepEqual(names(everywhere.items.filter((i: { namespace: string }) => i.namespace === A)), ["web"]);
  assert.ok(
    everywhere.items.every((i: { namespace: string }) => everywhere.namespaces.includes(i.namespace)),
  );
  // Through a browser session as well as a bearer token.
  const cookie = await sessionCookie(px, idp, "alice");
  const viaSession = ok(await api(px, { path: `/api/resources/services?ns=${A}`, cookie }));
  assert.deepEqual(names(viaSession.items), ["web"]);
});

test("alice is refused in bob's namespace (403 naming the verb and resource), and so is bob in hers", async () => {
  for (const [user, ns, path] of [
    ["alice", B, `/api/resources/pods?ns=${B}`],
    ["alice", B, `/api/resources/secrets?ns=${B}`],
    ["alice", B, `/api/resource/configmaps/settings?ns=${B}`],
    ["bob", A, `/api/resources/services?ns=${A}`],
  ] as const) {
    const a = await get(user, path);
    assert.equal(a.status, 403, `${user} ${path}: ${a.body}`);
    assert.equal(a.json.error, "forbidden");
    assert.match(
      a.json.message,
      new RegExp(`(list|get) (pods|secrets|configmaps|services).* in namespace ${ns}`),
    );
    assert.ok(!a.body.includes("dark") && !a.body.includes("web"), a.body);
  }
  const bob = ok(await get("bob", "/api/resources/configmaps"));
  assert.ok(bob.namespaces.includes(B) && !bob.namespaces.includes(A), bob.namespaces);
  assert.ok(!bob.items.some((i: { namespace: string }) => i.namespace === A));
});

test("/api/cluster: the caller, the real version, the namespaces and kinds their RBAC opens; counts agree", async () => {
  const cluster = ok(await get("alice", "/api/cluster"));
  assert.equal(cluster.user, "alice");
  assert.ok(cluster.groups.includes("team-a"), cluster.groups);
  const version = JSON.parse(await kubectl("version", "-o", "json")) as {
    serverVersion: { gitVersion: string };
  };
  assert.equal(cluster.kubernetes.version, version.serverVersion.gitVersion);
  assert.ok(cluster.namespaces.includes(A) && !cluster.namespaces.includes(B), cluster.namespaces);
  assert.deepEqual(cluster.kinds, ["pods", "deployments", "services", "secrets", "configmaps"]);
  const carol = ok(await get("carol", "/api/cluster"));
  assert.ok(carol.namespaces.includes(A), "carol sees alice's namespace through her group");
  assert.ok(!carol.namespaces.includes(B));
  for (const k of ["pods", "services", "secrets", "configmaps"]) assert.ok(carol.kinds.includes(k), k);

  const counts = ok(await get("alice", `/api/resources?ns=${A}`));
  const cms = await suite.c.core.listNamespacedConfigMap({ namespace: A });
  assert.deepEqual(counts.counts, {
    pods: 1,
    deployments: 0,
    services: 1,
    secrets: 1,
    configmaps: cms.items.length, // settings and the API server's kube-root-ca.crt
  });
  assert.deepEqual(counts.refused, []);
  const none = ok(await get("alice", `/api/resources?ns=${B}`));
  assert.deepEqual(none.counts, {});
  const all = ok(await get("alice", "/api/resources"));
  assert.ok(all.counts.pods >= 1, all.counts);
  assert.deepEqual(all.refused, ["namespaces", "crds"]);
});

test("secrets: keys without values; reveal for a user who may get them, refused for one who may only list", async () => {
  const base64 = Buffer.from(ALICE_SECRET_VALUE).toString("base64");
  for (const user of ["alice", "carol"]) {
    const list = ok(await get(user, `/api/resources/secrets?ns=${A}`));
    assert.deepEqual(
      list.items.map((i: { name: string; keys: string[] }) => [i.name, i.keys]),
      [["db", ["password", "user"]]],
    );
    assert.equal(list.items[0].type, "Opaque");
    assert.ok(!list.items[0].annotations["kubectl.kubernetes.io/last-applied-configuration"]);
    for (const v of [ALICE_SECRET_VALUE, base64])
      assert.ok(!JSON.stringify(list).includes(v), `${user}: ${v}`);
  }
  // alice's detail view without reveal: keys only.
  const detail = ok(await get("alice", `/api/resource/secrets/db?ns=${A}`));
  assert.deepEqual([detail.keys, detail.values], [["password", "user"], undefined]);
  assert.ok(!JSON.stringify(detail).includes(ALICE_SECRET_VALUE));

  const revealed = ok(await get("alice", `/api/resource/secrets/db?ns=${A}&reveal=true`));
  assert.deepEqual(revealed.values, {
    password: { encoding: "utf-8", value: ALICE_SECRET_VALUE },
    user: { encoding: "utf-8", value: "alice" },
  });

  const refused = await get("carol", `/api/resource/secrets/db?ns=${A}&reveal=true`);
  assert.equal(refused.status, 403, refused.body);
  assert.match(refused.json.message, new RegExp(`get secrets "db" in namespace ${A}`));
  assert.ok(!refused.body.includes(ALICE_SECRET_VALUE) && !refused.body.includes(base64));

  // The reveal is logged: who and which Secret, never the value.
  const log = await readFile(px.logFile, "utf8");
  // (The log file may hold earlier runs' lines: this run's namespace is unique.)
  const lines = log.split("\n").filter((l) => l.includes("secret revealed") && l.includes(`${A}/db`));
  assert.equal(lines.length, 1, lines.join("\n"));
  const line = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(line.user, "alice");
  assert.equal(line.target, `${A}/db`);
  assert.ok(!log.includes(ALICE_SECRET_VALUE) && !log.includes(base64), "no value in the proxy's log");
});

test("an object that does not exist: 404 after RBAC allowed the get", async () => {
  const a = await get("alice", `/api/resource/configmaps/absent?ns=${A}`);
  assert.equal(a.status, 404, a.body);
  assert.equal(a.json.error, "not_found");
  assert.match(a.json.message, /configmaps "absent" in namespace/);
});
