/**
 * Attacks on origins, against the real cluster and real Jupyter workspaces: a page on one origin
 * trying to drive a workspace on another (issue 11, deliverables 1 and 2).
 *
 * Each row sends what a hostile page's browser would send (an `Origin`, a `Sec-Fetch-Site`, the
 * victim's own credentials where the auth mode has them) and expects the proxy's refusal: 308
 * `own_host` for the compatible path on a host that is not the workspace's own (host mode), 403
 * `cross_origin` for an unsafe method or a WebSocket from any other origin. Proof that nothing
 * reached the victim: alice's Jupyter, read straight from its pod IP, has the same kernels (same
 * ids, no new connection, same last activity), sessions and files as before the row.
 *
 * Both routing modes, each with --auth=none (the demo) and --auth=jwt (alice's real access token
 * from the OpenID provider fixture goes with every attack: the strongest case, as if the browser
 * carried her credentials). Controls (`control:`) show the same requests pass from the right
 * origin, so a refusal is the check's doing and not a broken set-up. Path mode is one origin for
 * all workspaces: what the check cannot tell apart there is a `limit:` row, asserted as documented.
 */
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, describe, test } from "node:test";
import { WebSocket } from "ws";
import {
  API_VERSION,
  GATEWAY_ROUTE,
  GROUP,
  VERSION,
  WORKSPACE_CLASS,
  type GatewayRoute,
} from "../../crds/types.ts";
import { jupyterAt, type JupyterDirect } from "../lib/jupyter-state.ts";
import { apiErrorMessage, clients, eventually, uniqueName } from "../lib/kube.ts";
import { startOidcProvider, type OidcProvider } from "../lib/oidc.ts";
import { startProxy, type ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";
import { jupyterClass } from "../lib/workspaces.ts";

const PROVIDER = "198.18.0.95";
const PORTAL = "http://portal.example.test:3000";
const EVIL = "http://evil.example";
const GW_HOST = "notebooks.gw.test";
const GW_PORTAL = "http://gw-portal.example.test";

interface Answer {
  status: number;
  location?: string;
  body: string;
}

/** One HTTP request to the proxy with a chosen Host and headers. */
function send(
  px: ProxyProcess,
  method: string,
  path: string,
  headers: Record<string, string>,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${px.url}${path}`, { method, headers, agent: false }, (res) => {
      let body = "";
      res.on("data", (d) => (body += String(d)));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          body,
          ...(res.headers.location ? { location: res.headers.location } : {}),
        }),
      );
    });
    req.on("error", reject);
    req.end(["POST", "PUT", "PATCH"].includes(method) ? "{}" : undefined);
  });
}

/** A WebSocket handshake through the proxy; 101 when it opened (closed at once), else the refusal. */
function upgrade(px: ProxyProcess, path: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const { origin, ...rest } = headers;
    const ws = new WebSocket(`ws://${px.address}:${px.port}${path}`, {
      headers: rest,
      ...(origin ? { origin } : {}),
    });
    ws.once("open", () => {
      ws.close();
      resolve({ status: 101, body: "" });
    });
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += String(d)));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          body,
          ...(res.headers.location ? { location: res.headers.location } : {}),
        }),
      );
    });
    ws.once("error", (err) => reject(err));
  });
}

/** What a row knows when it runs. */
interface Ctx {
  px: ProxyProcess;
  ns: string;
  /** alice's workspace's Host (host mode) or the base domain's (path mode). */
  aliceHost: string;
  bobHost: string;
  baseHost: string;
  /** Where alice's IDE is, seen from the browser: "" (host mode) or `/w/{ns}/alice-nb`. */
  alicePrefix: string;
  compat: string;
  kernel: string;
  /** alice's credentials in this auth mode (a bearer header, or nothing with --auth=none). */
  creds: Record<string, string>;
}

interface Row {
  name: string;
  send: (x: Ctx) => Promise<Answer>;
  status: number;
  error?: string;
  location?: (x: Ctx) => string;
}

const kernelPath = (x: Ctx) => `${x.alicePrefix}/api/kernels/${x.kernel}/channels?session_id=attack`;
const post =
  (path: (x: Ctx) => string, host: (x: Ctx) => string, h: (x: Ctx) => Record<string, string>) => (x: Ctx) =>
    send(x.px, "POST", path(x), { ...x.creds, host: host(x), "content-type": "application/json", ...h(x) });
const ws =
  (path: (x: Ctx) => string, host: (x: Ctx) => string, h: (x: Ctx) => Record<string, string>) => (x: Ctx) =>
    upgrade(x.px, path(x), { ...x.creds, host: host(x), ...h(x) });
const kernels = (x: Ctx) => `${x.alicePrefix}/api/kernels`;
const alice = (x: Ctx) => x.aliceHost;

/** Rows for both routing modes. */
const COMMON: Row[] = [
  {
    name: "cross-origin POST /api/kernels (a page on another site starts a kernel)",
    send: post(kernels, alice, () => ({ origin: EVIL, "sec-fetch-site": "cross-site" })),
    status: 403,
    error: "cross_origin",
  },
  {
    name: "cross-origin POST /api/kernels without Sec-Fetch-Site (an older browser)",
    send: post(kernels, alice, () => ({ origin: EVIL })),
    status: 403,
    error: "cross_origin",
  },
  {
    name: "cross-origin WebSocket to a kernel's channels (runs code in an open kernel)",
    send: ws(kernelPath, alice, () => ({ origin: EVIL })),
    status: 403,
    error: "cross_origin",
  },
  {
    name: "Origin: null POST /api/kernels (a sandboxed iframe or data: page)",
    send: post(kernels, alice, () => ({ origin: "null", "sec-fetch-site": "cross-site" })),
    status: 403,
    error: "cross_origin",
  },
  {
    name: "Origin: null WebSocket to a kernel's channels",
    send: ws(kernelPath, alice, () => ({ origin: "null" })),
    status: 403,
    error: "cross_origin",
  },
  {
    name: "Sec-Fetch-Site: cross-site without Origin, PUT a file (/api/contents)",
    send: (x) =>
      send(x.px, "PUT", `${x.alicePrefix}/api/contents/pwned.txt`, {
        ...x.creds,
        host: x.aliceHost,
        "content-type": "application/json",
        "sec-fetch-site": "cross-site",
      }),
    status: 403,
    error: "cross_origin",
  },
  {
    name: "cross-origin DELETE of the victim's kernel",
    send: (x) =>
      send(x.px, "DELETE", `${x.alicePrefix}/api/kernels/${x.kernel}`, {
        ...x.creds,
        host: x.aliceHost,
        origin: EVIL,
      }),
    status: 403,
    error: "cross_origin",
  },
  {
    name: "an origin near the class's allow-list (other port) POST /api/kernels",
    send: post(kernels, alice, () => ({
      origin: "http://portal.example.test:3001",
      "sec-fetch-site": "cross-site",
    })),
    status: 403,
    error: "cross_origin",
  },
  {
    name: "the compatible path from another site, POST /api/kernels",
    send: (x) =>
      send(x.px, "POST", `${x.compat}/api/kernels`, {
        ...x.creds,
        host: x.baseHost,
        origin: EVIL,
        "content-type": "application/json",
      }),
    // Host mode answers 308 before any origin matters (own_host); path mode checks the origin.
    status: -1,
  },
];

/** Host mode: every workspace on its own origin. */
const HOST_ROWS: Row[] = [
  {
    name: "compatible path on the base domain, same-origin POST /api/kernels (the demo's finding)",
    send: (x) =>
      send(x.px, "POST", `${x.compat}/api/kernels`, {
        ...x.creds,
        host: x.baseHost,
        origin: `http://${x.baseHost}`,
        "sec-fetch-site": "same-origin",
        "content-type": "application/json",
      }),
    status: 308,
    error: "own_host",
    location: (x) => `http://${x.aliceHost}/api/kernels`,
  },
  {
    name: "compatible path on the base domain, GET the file list (never the content)",
    send: (x) =>
      send(x.px, "GET", `${x.compat}/api/contents/?type=directory`, { ...x.creds, host: x.baseHost }),
    status: 308,
    error: "own_host",
    location: (x) => `http://${x.aliceHost}/api/contents/?type=directory`,
  },
  {
    name: "compatible path on the base domain, WebSocket to a kernel's channels",
    send: (x) =>
      upgrade(x.px, `${x.compat}/api/kernels/${x.kernel}/channels?session_id=attack`, {
        ...x.creds,
        host: x.baseHost,
        origin: `http://${x.baseHost}`,
      }),
    status: 308,
    error: "own_host",
    location: (x) => `http://${x.aliceHost}/api/kernels/${x.kernel}/channels?session_id=attack`,
  },
  {
    name: "compatible path on any other host (DNS rebinding name), POST /api/kernels",
    send: (x) =>
      send(x.px, "POST", `${x.compat}/api/kernels`, {
        ...x.creds,
        host: "rebound.evil.example:8080",
        origin: "http://rebound.evil.example:8080",
        "content-type": "application/json",
      }),
    status: 308,
    error: "own_host",
    location: (x) => `http://${x.aliceHost}/api/kernels`,
  },
  {
    name: "compatible path on bob's workspace host: bob's own IDE gets the path, alice's nothing",
    send: (x) =>
      send(x.px, "POST", `${x.compat}/api/kernels`, {
        ...x.creds,
        host: x.bobHost,
        origin: `http://${x.bobHost}`,
        "sec-fetch-site": "same-origin",
        "content-type": "application/json",
      }),
    status: 404, // Jupyter's own "Not Found" on bob's host: that path is no API of bob's Jupyter
  },
  {
    name: "same-site sibling: bob's workspace page POSTs /api/kernels to alice's host",
    send: post(kernels, alice, (x) => ({ origin: `http://${x.bobHost}`, "sec-fetch-site": "same-site" })),
    status: 403,
    error: "cross_origin",
  },
  {
    name: "same-site sibling: bob's workspace page opens alice's kernel WebSocket",
    send: ws(kernelPath, alice, (x) => ({ origin: `http://${x.bobHost}`, "sec-fetch-site": "same-site" })),
    status: 403,
    error: "cross_origin",
  },
  {
    name: "the base domain's page (console origin) POSTs /api/kernels to alice's host",
    send: post(kernels, alice, (x) => ({ origin: `http://${x.baseHost}`, "sec-fetch-site": "same-site" })),
    status: 403,
    error: "cross_origin",
  },
  {
    name: "the https twin of alice's own origin POSTs /api/kernels (scheme differs)",
    send: post(kernels, alice, (x) => ({ origin: `https://${x.aliceHost}` })),
    status: 403,
    error: "cross_origin",
  },
  {
    name: "GatewayRoute: cross-origin POST /api/kernels",
    send: post(
      kernels,
      () => `${GW_HOST}:8080`,
      () => ({ origin: EVIL, "sec-fetch-site": "cross-site" }),
    ),
    status: 403,
    error: "cross_origin",
  },
  {
    name: "GatewayRoute: cross-origin WebSocket to a kernel's channels",
    send: ws(
      kernelPath,
      () => `${GW_HOST}:8080`,
      () => ({ origin: EVIL }),
    ),
    status: 403,
    error: "cross_origin",
  },
  {
    name: "GatewayRoute: a workspace page's origin (same site) POSTs /api/kernels",
    send: post(
      kernels,
      () => `${GW_HOST}:8080`,
      (x) => ({ origin: `http://${x.bobHost}` }),
    ),
    status: 403,
    error: "cross_origin",
  },
  {
    name: "GatewayRoute: Origin: null WebSocket",
    send: ws(
      kernelPath,
      () => `${GW_HOST}:8080`,
      () => ({ origin: "null" }),
    ),
    status: 403,
    error: "cross_origin",
  },
];

/** Path mode: one origin for all workspaces; what is still refused. */
const PATH_ROWS: Row[] = [
  {
    name: "path mode: a workspace host name is no origin of its own, POST /api/kernels from it",
    send: post(kernels, alice, (x) => ({ origin: `http://${x.bobHost}`, "sec-fetch-site": "same-site" })),
    status: 403,
    error: "cross_origin",
  },
];

/** Rows whose expectation depends on the mode (the compatible path from another site). */
function expectation(row: Row, mode: "host" | "path"): { status: number; error?: string } {
  if (row.status !== -1) return row;
  return mode === "host" ? { status: 308, error: "own_host" } : { status: 403, error: "cross_origin" };
}

const MODES = [
  { mode: "host", addresses: { none: "198.18.0.91", jwt: "198.18.0.92" } },
  { mode: "path", addresses: { none: "198.18.0.93", jwt: "198.18.0.94" } },
] as const;

let idp: OidcProvider;
before(async () => {
  idp = await startOidcProvider({
    address: PROVIDER,
    port: 9000,
    redirectUris: ["http://portico.test/__portico/auth/callback"],
    name: "attacks-origin-provider",
  });
});
after(async () => idp?.stop());

for (const { mode, addresses } of MODES) {
  describe(`${mode} mode`, () => {
    const suite = clusterSuite(`ao-${mode}`, {
      classes: {
        jupyter: (name) => {
          const cls = jupyterClass(name);
          cls.spec.allowedOrigins = [PORTAL];
          // Jupyter checks Origin itself on its API: told the same portals, so the controls show
          // the proxy's allow-list letting them through to an IDE that takes them.
          cls.spec.args = [
            ...(cls.spec.args ?? []),
            "--ServerApp.allow_origin_pat=^http://(gw-)?portal\\.example\\.test(:3000)?$",
          ];
          return cls;
        },
      },
      operator: mode === "path" ? ["--routing=path"] : [],
      workspaces: [
        { name: "alice-nb", class: "jupyter", owner: "alice" },
        // bob shares his workspace with alice: its pages are ones she opens (the Chromium test's set-up).
        { name: "bob-nb", class: "jupyter", owner: "bob", spec: { sharedWith: { users: ["alice"] } } },
      ],
    });
    const proxies: Partial<Record<"none" | "jwt", ProxyProcess>> = {};
    let victim: JupyterDirect;
    let bobJupyter: JupyterDirect;
    let kernel: string;
    const prefixOf = (name: string) => (mode === "path" ? `/w/${suite.ns}/${name}` : "");

    before(async () => {
      await suite.ready();
      suite.onTeardown(async () => {
        for (const p of Object.values(proxies)) await p.stop();
      });
      const routing = mode === "path" ? ["--routing=path"] : [];
      proxies.none = await startProxy({
        address: addresses.none,
        port: 8080,
        name: `ao-${mode}-none`,
        flags: routing,
      });
      proxies.jwt = await startProxy({
        address: addresses.jwt,
        port: 8080,
        name: `ao-${mode}-jwt`,
        flags: [
          ...routing,
          "--auth=jwt",
          `--oidc-issuer=${idp.issuer}`,
          `--oidc-audiences=portico`,
          `--oidc-client-id=${idp.clientId}`,
          "--rate-limit-ip=0",
          "--rate-limit-user=0",
        ],
      });
      victim = await jupyterAt(suite.c, suite.ns, "alice-nb", prefixOf("alice-nb"));
      bobJupyter = await jupyterAt(suite.c, suite.ns, "bob-nb", prefixOf("bob-nb"));
      kernel = await victim.startKernel();
      suite.onTeardown(() => victim.deleteKernel(kernel));
      if (mode === "host") {
        // A GatewayRoute in front of alice's Jupyter (her workspace's Service), another origin's API.
        const route: GatewayRoute = {
          apiVersion: API_VERSION,
          kind: GATEWAY_ROUTE.kind,
          metadata: { name: "notebooks", namespace: suite.ns },
          spec: {
            hosts: [GW_HOST],
            rules: [
              { backends: [{ service: { name: "ws-alice-nb", port: 80 } }], allowedOrigins: [GW_PORTAL] },
            ],
          },
        };
        await suite.c.custom.createNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: suite.ns,
          plural: GATEWAY_ROUTE.plural,
          body: route,
        });
      }
      for (const px of Object.values(proxies)) {
        const x = await ctxFor(px, px === proxies.jwt ? "jwt" : "none");
        await eventually(
          `${px.url} routes alice's workspace`,
          async () =>
            (await send(px, "GET", `${x.alicePrefix}/api`, { ...x.creds, host: x.aliceHost })).status === 200
              ? true
              : undefined,
          30_000,
          200,
        );
        if (mode === "host")
          await eventually(
            `${px.url} routes the GatewayRoute`,
            async () =>
              (await send(px, "GET", "/api", { ...x.creds, host: `${GW_HOST}:8080` })).status === 200
                ? true
                : undefined,
            30_000,
            200,
          );
      }
    });

    async function ctxFor(px: ProxyProcess, auth: "none" | "jwt"): Promise<Ctx> {
      const baseHost = "portico.test:8080";
      return {
        px,
        ns: suite.ns,
        aliceHost: mode === "host" ? px.hostFor(suite.ns, "alice-nb") : baseHost,
        bobHost: px.hostFor(suite.ns, "bob-nb"),
        baseHost,
        alicePrefix: prefixOf("alice-nb"),
        compat: `/api/v1/connect/${suite.ns}/alice/${suite.cls.jupyter}`,
        kernel,
        creds:
          auth === "jwt" ? { authorization: `Bearer ${(await idp.tokensFor("alice")).accessToken}` } : {},
      };
    }

    const rows = [...COMMON, ...(mode === "host" ? HOST_ROWS : PATH_ROWS)];
    for (const auth of ["none", "jwt"] as const)
      for (const row of rows)
        test(`attack: ${mode} mode, --auth=${auth}: ${row.name}`, async () => {
          const x = await ctxFor(proxies[auth]!, auth);
          const before = { alice: await victim.state(), bob: await bobJupyter.state() };
          const got = await row.send(x);
          const want = expectation(row, mode);
          assert.equal(got.status, want.status, got.body);
          if (want.error) assert.equal((JSON.parse(got.body) as { error: string }).error, want.error);
          if (row.location) assert.equal(got.location, row.location(x));
          assert.doesNotMatch(
            got.body,
            /"kernels"|"content"|"execution_state"/,
            "no Jupyter content in the answer",
          );
          // Proof: neither Jupyter saw anything (no kernel, connection, activity, session or file).
          assert.deepEqual(await victim.state(), before.alice, "alice's Jupyter is unchanged");
          assert.deepEqual(await bobJupyter.state(), before.bob, "bob's Jupyter is unchanged");
        });

    /** Controls: the same requests from the right origin pass, so the refusals above are the check's. */
    const controls: [string, (x: Ctx) => Promise<Answer>, number][] = [
      [
        "own origin POST /api/kernels",
        post(kernels, alice, (x) => ({ origin: `http://${x.aliceHost}`, "sec-fetch-site": "same-origin" })),
        201,
      ],
      [
        "class allow-listed origin POST /api/kernels",
        post(kernels, alice, () => ({ origin: PORTAL, "sec-fetch-site": "cross-site" })),
        201,
      ],
      ["no Origin (a non-browser client) POST /api/kernels", post(kernels, alice, () => ({})), 201],
      [
        "own origin WebSocket to the kernel",
        ws(kernelPath, alice, (x) => ({ origin: `http://${x.aliceHost}` })),
        101,
      ],
      ...(mode === "host"
        ? ([
            [
              "GatewayRoute allow-listed origin POST /api/kernels",
              post(
                kernels,
                () => `${GW_HOST}:8080`,
                () => ({ origin: GW_PORTAL }),
              ),
              201,
            ],
            [
              "GatewayRoute own origin WebSocket",
              ws(
                kernelPath,
                () => `${GW_HOST}:8080`,
                () => ({ origin: `http://${GW_HOST}:8080` }),
              ),
              101,
            ],
            [
              "compatible path on alice's host reaches nothing but her own IDE (404 there)",
              (x: Ctx) => send(x.px, "GET", `${x.compat}/api`, { ...x.creds, host: x.aliceHost }),
              404,
            ],
          ] as [string, (x: Ctx) => Promise<Answer>, number][])
        : ([
            [
              "compatible path on the one origin POST /api/kernels",
              (x: Ctx) =>
                send(x.px, "POST", `${x.compat}/api/kernels`, {
                  ...x.creds,
                  host: x.baseHost,
                  origin: `http://${x.baseHost}`,
                  "content-type": "application/json",
                }),
              201,
            ],
          ] as [string, (x: Ctx) => Promise<Answer>, number][])),
    ];
    for (const auth of ["none", "jwt"] as const)
      for (const [name, run, status] of controls)
        test(`control: ${mode} mode, --auth=${auth}: ${name} → ${status}`, async () => {
          const x = await ctxFor(proxies[auth]!, auth);
          const before = await victim.state();
          const got = await run(x);
          assert.equal(got.status, status, got.body);
          if (status === 201) {
            const id = (JSON.parse(got.body) as { id: string }).id;
            const after = await victim.state();
            assert.ok(
              after.kernels.some((k) => k.id === id),
              "the kernel exists at the pod",
            );
            await victim.deleteKernel(id);
          }
          if (status === 101)
            // The socket reached the kernel: Jupyter counted the connection (and drops it again).
            await eventually("the connection is gone again", async () => {
              const k = (await victim.state()).kernels.find((k) => k.id === kernel);
              return k && k.connections === 0 ? true : undefined;
            });
          assert.deepEqual(
            (await victim.state()).kernels.map((k) => k.id),
            before.kernels.map((k) => k.id),
          );
        });

    if (mode === "path")
      test("limit: path mode is one origin for all workspaces: a page of bob's workspace may POST to alice's", async () => {
        // Documented (docs/security.md): in path mode every workspace shares the base origin, so the
        // origin check cannot tell bob's page from alice's; authorization (owner, sharing) is what
        // keeps them apart there. Host mode (the default) is the answer.
        const x = await ctxFor(proxies.none!, "none");
        const got = await send(x.px, "POST", `${x.alicePrefix}/api/kernels`, {
          host: x.baseHost,
          origin: `http://${x.baseHost}`,
          referer: `http://${x.baseHost}/w/${suite.ns}/bob-nb/tree`,
          "sec-fetch-site": "same-origin",
          "content-type": "application/json",
        });
        assert.equal(got.status, 201, got.body);
        await victim.deleteKernel((JSON.parse(got.body) as { id: string }).id);
      });
  });
}

describe("the API server refuses allow-lists that are not exact origins", () => {
  const c = clients();
  const bad = [
    "*",
    "null",
    "http://*.example.com",
    "https://portal.example.com/",
    "https://Portal.example.com",
    "javascript:alert(1)",
    "https://portal.example.com/path",
  ];
  for (const origin of bad)
    test(`attack: a WorkspaceClass with allowedOrigins ${JSON.stringify(origin)} → 422 naming spec.allowedOrigins[0]`, async () => {
      const cls = jupyterClass(uniqueName("ao-bad"));
      cls.spec.allowedOrigins = [origin];
      const err = await c.custom
        .createClusterCustomObject({
          group: GROUP,
          version: VERSION,
          plural: WORKSPACE_CLASS.plural,
          body: cls,
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      assert.ok(err, "refused");
      const message = apiErrorMessage(err);
      assert.match(message, /spec\.allowedOrigins\[0\]: /);
      assert.match(message, /must be an exact origin/);
      // Proof: no such class exists.
      const list = (await c.custom.listClusterCustomObject({
        group: GROUP,
        version: VERSION,
        plural: WORKSPACE_CLASS.plural,
      })) as {
        items: { metadata: { name: string } }[];
      };
      assert.ok(!list.items.some((i) => i.metadata.name === cls.metadata.name));
    });
  test('attack: a GatewayRoute rule with allowedOrigins ["*"] → 422 naming spec.rules[0].allowedOrigins[0]', async () => {
    const ns = "default";
    const err = await c.custom
      .createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ns,
        plural: GATEWAY_ROUTE.plural,
        body: {
          apiVersion: API_VERSION,
          kind: GATEWAY_ROUTE.kind,
          metadata: { name: uniqueName("ao-bad") },
          spec: { rules: [{ backends: [{ service: { name: "x", port: 80 } }], allowedOrigins: ["*"] }] },
        },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(err, "refused");
    assert.match(apiErrorMessage(err), /spec\.rules\[0\]\.allowedOrigins\[0\]: .*must be an exact origin/);
  });
});
