/**
 * Bad input against the console's resource views (issue 14, item 5): every row sends what a careless or
 * hostile client would — a kind outside the table, namespace and name injection (`..`, `/`, `%2F`,
 * `,`, label-selector and field syntax, a very long value), reveals without RBAC or on a proxy that
 * does not reveal, another tenant's namespace, cluster-scoped kinds without RBAC, a workspace host
 * instead of the base domain, no or forged credentials, writes — and expects its refusal: the status
 * and the error code. After every row, proof that nothing of the victim's was returned or changed:
 * alice's Secret value (in any encoding) and her ConfigMap's data appear in no answer, her Secret
 * is unchanged; at the end, no Secret value appears anywhere in either proxy's log.
 *
 * Real parts: the API server's RBAC (SubjectAccessReview as the user), the OpenID provider's tokens,
 * the proxy as the chart's ServiceAccount under the chart's console.resources rules.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { api, userNamespaces, type ApiCall } from "../lib/api-client.ts";
import {
  ALICE_SECRET_VALUE,
  BOB_SECRET_VALUE,
  seedResources,
  startResourcesProxy,
} from "../lib/console-resources.ts";
import { uniqueName } from "../lib/kube.ts";
import { startOidcProvider, type OidcProvider } from "../lib/oidc.ts";
import type { ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";

const PROVIDER = "198.18.0.173";
const PROXY = "198.18.0.174";
const NO_REVEAL = "198.18.0.175";
const PUBLIC = "http://portico.test:8080";

const suite = clusterSuite("attacks-cres", { operator: false });
const prefix = uniqueName("acres");
const A = `${prefix}-alice`;
const B = `${prefix}-bob`;
let idp: OidcProvider;
let px: ProxyProcess;
/** Secrets shown, values never revealed (--console-secrets without --console-reveal-secrets). */
let keysOnly: ProxyProcess;
const tokens = new Map<string, string>();

before(async () => {
  await suite.ready();
  await userNamespaces(suite, prefix, ["alice", "bob"]);
  await seedResources(suite.c, A, B);
  idp = await startOidcProvider({
    address: PROVIDER,
    port: 9000,
    redirectUris: [`${PUBLIC}/__portico/auth/callback`],
    name: "attacks-cres-oidc",
  });
  suite.onTeardown(() => idp.stop());
  px = await startResourcesProxy(idp, {
    address: PROXY,
    name: "attacks-cres-proxy",
    publicUrl: PUBLIC,
    extra: ["--console-reveal-secrets=true"],
  });
  suite.onTeardown(() => px.stop());
  keysOnly = await startResourcesProxy(idp, {
    address: NO_REVEAL,
    name: "attacks-cres-keys-only",
    publicUrl: PUBLIC,
    extra: ["--console-secrets=true"],
  });
  suite.onTeardown(() => keysOnly.stop());
  for (const user of ["alice", "bob", "carol"]) tokens.set(user, (await idp.tokensFor(user)).accessToken);
});

/** Every form in which the victim's data could leak. */
const VICTIM = [
  ALICE_SECRET_VALUE,
  Buffer.from(ALICE_SECRET_VALUE).toString("base64"),
  "alice-dark", // her ConfigMap's data
];

interface Row {
  attack: string;
  /** Who sends it (default bob, the other tenant); undefined: no credentials. */
  as?: string | null;
  call: Omit<ApiCall, "token">;
  /** The proxy asked (default: the one that reveals). */
  proxy?: () => ProxyProcess;
  status: number;
  code: string;
}

const victimSecret = () => `/api/resource/secrets/db?ns=${A}`;

const ROWS: Row[] = [
  {
    attack: "a kind outside the table (nodes)",
    call: { path: `/api/resources/nodes` },
    status: 400,
    code: "bad_kind",
  },
  {
    attack: "a kind outside the table, one object (serviceaccounts)",
    call: { path: `/api/resource/serviceaccounts/default?ns=${A}` },
    status: 400,
    code: "bad_kind",
  },
  { attack: "ns=..", call: { path: `/api/resources/secrets?ns=..` }, status: 400, code: "bad_namespace" },
  {
    attack: "ns with a slash (another path)",
    call: { path: `/api/resources/secrets?ns=${A}/secrets/db` },
    status: 400,
    code: "bad_namespace",
  },
  {
    attack: "ns with %2F",
    call: { path: `/api/resources/secrets?ns=${A}%2Fsecrets%2Fdb` },
    status: 400,
    code: "bad_namespace",
  },
  {
    attack: "ns with a double-encoded slash (%252F)",
    call: { path: `/api/resources/secrets?ns=${A}%252F..` },
    status: 400,
    code: "bad_namespace",
  },
  {
    attack: "two namespaces with a comma",
    call: { path: `/api/resources/secrets?ns=${B},${A}` },
    status: 400,
    code: "bad_namespace",
  },
  {
    attack: "ns as a label selector",
    call: { path: `/api/resources/secrets?ns=kubernetes.io%2Fmetadata.name%3D${A}` },
    status: 400,
    code: "bad_namespace",
  },
  {
    attack: "ns given twice (own, then the victim's)",
    call: { path: `/api/resources/secrets?ns=${B}&ns=${A}` },
    status: 400,
    code: "bad_parameter",
  },
  {
    attack: "a labelSelector / fieldSelector parameter passed along",
    call: { path: `/api/resources/secrets?ns=${B}&fieldSelector=metadata.namespace%3D${A}` },
    status: 400,
    code: "bad_parameter",
  },
  {
    attack: "a very long ns (10,000 characters)",
    call: { path: `/api/resources/pods?ns=${"a".repeat(10_000)}` },
    status: 400,
    code: "bad_namespace",
  },
  {
    attack: "a name with dot segments, encoded (..%2F)",
    call: { path: `/api/resource/secrets/..%2F..%2Fnamespaces%2F${A}%2Fsecrets%2Fdb?ns=${B}` },
    status: 400,
    code: "bad_path",
  },
  {
    attack: "a name that is not a DNS name (db..x)",
    call: { path: `/api/resource/secrets/db..x?ns=${A}` },
    status: 400,
    code: "bad_name",
  },
  {
    attack: "a name with a query in it (%3F)",
    call: { path: `/api/resource/secrets/db%3Fns%3D${A}?ns=${B}` },
    status: 400,
    code: "bad_name",
  },
  {
    attack: "reveal without RBAC (bob on alice's Secret)",
    call: { path: `${victimSecret()}&reveal=true` },
    status: 403,
    code: "forbidden",
  },
  {
    attack: "reveal by a user who may list but not get Secrets (carol, by group)",
    as: "carol",
    call: { path: `${victimSecret()}&reveal=true` },
    status: 403,
    code: "forbidden",
  },
  {
    attack: "reveal with revealSecrets off (alice on her own Secret)",
    as: "alice",
    proxy: () => keysOnly,
    call: { path: `${victimSecret()}&reveal=true` },
    status: 403,
    code: "reveal_disabled",
  },
  {
    attack: "reveal=1 instead of true",
    as: "alice",
    call: { path: `${victimSecret()}&reveal=1` },
    status: 400,
    code: "bad_parameter",
  },
  {
    attack: "another tenant's Secrets (list)",
    call: { path: `/api/resources/secrets?ns=${A}` },
    status: 403,
    code: "forbidden",
  },
  {
    attack: "another tenant's Secret (get, no reveal)",
    call: { path: victimSecret() },
    status: 403,
    code: "forbidden",
  },
  {
    attack: "another tenant's ConfigMap",
    call: { path: `/api/resource/configmaps/settings?ns=${A}` },
    status: 403,
    code: "forbidden",
  },
  {
    attack: "another tenant's counts (answered: every kind refused, below)",
    call: { path: `/api/resources?ns=${A}` },
    status: 200,
    code: "",
  },
  {
    attack: "cluster-scoped kinds without RBAC (namespaces)",
    call: { path: `/api/resources/namespaces` },
    status: 403,
    code: "forbidden",
  },
  {
    attack: "cluster-scoped kinds without RBAC (one CRD)",
    call: { path: `/api/resource/crds/workspaces.portico.dev` },
    status: 403,
    code: "forbidden",
  },
  {
    attack: "a namespace given to a cluster-scoped kind",
    call: { path: `/api/resources/namespaces?ns=${A}` },
    status: 400,
    code: "bad_namespace",
  },
  {
    attack: "a workspace host instead of the base domain",
    as: "alice",
    call: { path: victimSecret(), host: `victim--${A}.portico.test:8080` },
    status: 404,
    code: "not_found",
  },
  {
    attack: "no credentials",
    as: null,
    call: { path: victimSecret() },
    status: 401,
    code: "unauthenticated",
  },
  {
    attack: "a forged bearer token",
    as: null,
    call: {
      path: victimSecret(),
      headers: { authorization: "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9." },
    },
    status: 401,
    code: "unauthenticated",
  },
  {
    attack: "POST (a write) to a list",
    as: "alice",
    call: { method: "POST", path: `/api/resources/secrets?ns=${A}`, body: { metadata: { name: "x" } } },
    status: 405,
    code: "method_not_allowed",
  },
  {
    attack: "DELETE of the victim's Secret",
    call: { method: "DELETE", path: victimSecret() },
    status: 405,
    code: "method_not_allowed",
  },
];

/** The victim's Secret as the API server holds it: what a row could have changed. */
async function victimState(): Promise<string> {
  const s = await suite.c.core.readNamespacedSecret({ namespace: A, name: "db" });
  return JSON.stringify([s.metadata?.resourceVersion, s.data]);
}

for (const row of ROWS)
  test(`attack: ${row.attack} → ${row.status}${row.code ? ` ${row.code}` : ""}`, async () => {
    const before = await victimState();
    const who = row.as === undefined ? "bob" : row.as;
    const a = await api((row.proxy ?? (() => px))(), {
      ...row.call,
      ...(who ? { token: tokens.get(who)! } : {}),
    });
    assert.equal(a.status, row.status, a.body.slice(0, 500));
    if (row.code) assert.equal(a.json?.error, row.code, a.body.slice(0, 500));
    if (row.status !== 200)
      assert.ok(typeof a.json?.message === "string" && a.json.message.length > 5, a.body);
    for (const v of VICTIM) assert.ok(!a.body.includes(v), `the victim's data (${v}) in the answer`);
    assert.ok(a.body.length < 2000, "a refusal does not echo what it was sent");
    assert.equal(await victimState(), before, "the victim's Secret is unchanged");
  });

test("another tenant's counts name nothing of hers: every kind refused", async () => {
  const a = await api(px, { path: `/api/resources?ns=${A}`, token: tokens.get("bob")! });
  assert.deepEqual(a.json.counts, {});
  assert.deepEqual(a.json.refused, ["pods", "deployments", "services", "secrets", "configmaps"]);
});

test("no Secret value in any encoding appears in either proxy's log", async () => {
  for (const p of [px, keysOnly]) {
    const log = await readFile(p.logFile, "utf8");
    assert.ok(log.length > 0);
    for (const v of [
      ...VICTIM.slice(0, 2),
      BOB_SECRET_VALUE,
      Buffer.from(BOB_SECRET_VALUE).toString("base64"),
    ])
      assert.ok(!log.includes(v), `${v} in ${p.logFile}`);
  }
});

test("the table holds at least 10 attacks", () => {
  assert.ok(ROWS.length >= 10, String(ROWS.length));
});
