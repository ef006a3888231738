/**
 * A client of the self-service API for e2e files: REST calls and GraphQL operations over real HTTP to
 * a proxy, as a user with a bearer token or a session cookie, and a session cookie got the way a
 * browser gets it (the proxy's login route, the provider's login form, the callback).
 */
import { request } from "node:http";
import type { Clients } from "./kube.ts";
import { proxyOidcFlags, type OidcProvider } from "./oidc.ts";
import type { ProxyProcess } from "./proxy.ts";

export interface ApiAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The body as JSON, or undefined when it is not JSON. */
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- test assertions read into it freely
}

export interface ApiCall {
  method?: string;
  path: string;
  /** A bearer token (Authorization) or a cookie header. */
  token?: string;
  cookie?: string;
  /** Sent as is when a string, else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Host header (default: the proxy's base domain host). */
  host?: string;
}

/** One request to the proxy's API. */
export function api(px: ProxyProcess, call: ApiCall): Promise<ApiAnswer> {
  const raw =
    call.body === undefined
      ? undefined
      : typeof call.body === "string"
        ? call.body
        : JSON.stringify(call.body);
  const headers: Record<string, string> = {
    host: call.host ?? `portico.test:${px.port}`,
    accept: "application/json",
    ...(raw !== undefined ? { "content-type": "application/json" } : {}),
    ...(call.token ? { authorization: `Bearer ${call.token}` } : {}),
    ...(call.cookie ? { cookie: call.cookie } : {}),
    ...call.headers,
  };
  return new Promise((resolve, reject) => {
    const req = request(
      `${px.url}${call.path}`,
      { method: call.method ?? "GET", headers, agent: false },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () => {
          let json: unknown;
          try {
            json = JSON.parse(body);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
        });
      },
    );
    req.on("error", reject);
    req.setTimeout(60_000, () =>
      req.destroy(new Error(`no answer to ${call.method ?? "GET"} ${call.path} within 60 s`)),
    );
    req.end(raw);
  });
}

/** A GraphQL operation at POST /graphql. */
export function gql(
  px: ProxyProcess,
  token: string | undefined,
  query: string,
  variables?: Record<string, unknown>,
  extra: Partial<ApiCall> = {},
): Promise<ApiAnswer> {
  return api(px, {
    method: "POST",
    path: "/graphql",
    ...(token ? { token } : {}),
    body: { query, ...(variables ? { variables } : {}) },
    headers: { accept: "application/graphql-response+json, application/json" },
    ...extra,
  });
}

/** The `portico_session=…` cookie of `user`, logged in through the proxy's login route and the provider's form. */
export async function sessionCookie(px: ProxyProcess, idp: OidcProvider, user: string): Promise<string> {
  const login = await api(px, { path: "/__portico/auth/login", headers: { accept: "text/html" } });
  if (login.status !== 302)
    throw new Error(`login route answered ${login.status}: ${login.body.slice(0, 200)}`);
  const loginCookie = cookiesOf(login).find((c) => c.startsWith("portico_login="));
  if (!loginCookie) throw new Error("the login route set no login cookie");
  const back = await idp.loginAt(String(login.headers.location), user);
  const cb = await api(px, {
    path: back.pathname + back.search,
    cookie: loginCookie,
    headers: { accept: "text/html" },
  });
  const session = cookiesOf(cb).find((c) => c.startsWith("portico_session="));
  if (cb.status !== 302 || !session)
    throw new Error(`callback answered ${cb.status} without a session: ${cb.body.slice(0, 200)}`);
  return session;
}

/** `name=value` of every cookie an answer set. */
const cookiesOf = (a: ApiAnswer): string[] =>
  ([] as string[]).concat(a.headers["set-cookie"] ?? []).map((l) => l.split(";")[0]!);

/**
 * The proxy flags of an API e2e file: browser login and bearer tokens from `idp` (`--auth=oidc`),
 * users' workspaces in `{prefix}-{user}`, provisioning from `git`, no rate limits (the files send
 * bursts on purpose), and `extra` last.
 */
export function apiProxyFlags(
  idp: OidcProvider,
  publicUrl: string,
  prefix: string,
  git: { url: string; apiUrl: string },
  extra: string[] = [],
): string[] {
  return [
    ...proxyOidcFlags(idp, publicUrl),
    `--api-namespace=${prefix}-{user}`,
    `--git-server-url=${git.url}`,
    `--git-api-url=${git.apiUrl}`,
    "--rate-limit-ip=0",
    "--rate-limit-user=0",
    ...extra,
  ];
}

/** Makes the namespace `{prefix}-{user}` of each user (the API's mapping); dropped at the suite's teardown. */
export async function userNamespaces(
  suite: { c: Clients; onTeardown(fn: () => Promise<unknown>): void },
  prefix: string,
  users: readonly string[],
): Promise<void> {
  for (const user of users)
    await suite.c.core.createNamespace({ body: { metadata: { name: `${prefix}-${user}` } } });
  suite.onTeardown(async () => {
    for (const user of users)
      await suite.c.core.deleteNamespace({ name: `${prefix}-${user}` }).catch(() => undefined);
  });
}
