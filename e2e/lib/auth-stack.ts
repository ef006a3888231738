/**
 * What the authenticated e2e files share: the real OpenID provider with a proxy in front of it,
 * the proxy's `--auth=jwt` flags, the JSON `error` code of a refusal, and a GatewayRoute created
 * in the suite's namespace.
 */
import { API_VERSION, GATEWAY_ROUTE, GROUP, VERSION, type GatewayRouteSpec } from "../../crds/types.ts";
import type { Clients } from "./kube.ts";
import { startOidcProvider, type OidcProvider, type OidcProviderOptions } from "./oidc.ts";
import { startProxy, type ProxyOptions, type ProxyProcess } from "./proxy.ts";

export interface AuthStack {
  idp: OidcProvider;
  px: ProxyProcess;
}

/** The login callback the provider lets a client redirect to, unless a file says otherwise. */
const CALLBACK = "http://portico.test/__portico/auth/callback";

/**
 * Once the suite is ready: the provider (port 9000 and the portico.test callback unless given),
 * then the proxy `proxy(idp)` describes; both stopped at the suite's teardown, the proxy first.
 */
export async function startAuthStack(
  suite: { ready(): Promise<void>; onTeardown(fn: () => Promise<unknown>): void },
  provider: Omit<OidcProviderOptions, "port" | "redirectUris"> & Partial<OidcProviderOptions>,
  proxy: (idp: OidcProvider) => ProxyOptions,
): Promise<AuthStack> {
  await suite.ready();
  const s: Partial<AuthStack> = {};
  suite.onTeardown(async () => {
    await s.px?.stop();
    await s.idp?.stop();
  });
  s.idp = await startOidcProvider({ port: 9000, redirectUris: [CALLBACK], ...provider });
  s.px = await startProxy(proxy(s.idp));
  return { idp: s.idp, px: s.px };
}

/** The proxy flags that take `idp`'s access tokens for `audience` (`--auth=jwt`). */
export const jwtFlags = (idp: OidcProvider, audience = "portico"): string[] => [
  "--auth=jwt",
  `--oidc-issuer=${idp.issuer}`,
  `--oidc-audiences=${audience}`,
  `--oidc-client-id=${idp.clientId}`,
];

/** The `error` code of a JSON refusal body; undefined for any other body. */
export function errorCode(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { error?: string }).error;
  } catch {
    return undefined; // not JSON
  }
}

/** Creates the GatewayRoute `name` in namespace `ns`. */
export async function createGatewayRoute(c: Clients, ns: string, name: string, spec: GatewayRouteSpec) {
  await c.custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ns,
    plural: GATEWAY_ROUTE.plural,
    body: { apiVersion: API_VERSION, kind: GATEWAY_ROUTE.kind, metadata: { name }, spec },
  });
}
