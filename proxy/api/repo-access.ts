/**
 * May this caller read `{owner}/{repo}` on the git server? Asks the server's repository API in
 * Gitea's shape (`GET {apiBase}/repos/{owner}/{repo}`) with the caller's own token, forwarded as is
 * (`Authorization: token X`): the git server decides, with the user's rights, never ours.
 *
 * Names are checked against Gitea's rules before any request, so nothing odd (a slash, `..`, a
 * percent sign, a query) ever reaches the URL. One request, no redirect followed (a token is never
 * sent on to another location), a 5 s deadline over the whole exchange, the answer read up to a
 * bound. No logging here: the token appears in no message this module makes.
 */

/** The part of `fetch` this module uses (global fetch and undici's fetch both fit). */
export type FetchLike = (
  url: string,
  init: { method: "GET"; headers: Record<string, string>; redirect: "manual"; signal: AbortSignal },
) => Promise<Response>;

export type RepoAccess =
  | { ok: true; cloneUrl: string; defaultBranch: string; private: boolean }
  | {
      ok: false;
      /**
       * invalid: a name breaks Gitea's rules (no request was made; `field` says which);
       * denied: the server knows the repository and refuses the caller (403, or no `pull`);
       * not_found: 404 (Gitea's answer for a private repository the caller may not see, too),
       * or moved (a redirect); unauthenticated: 401, the token was not accepted;
       * unavailable: anything else (network, timeout, 5xx, an answer of the wrong shape or size).
       */
      reason: "invalid" | "denied" | "not_found" | "unauthenticated" | "unavailable";
      message: string;
      field?: "repoOwner" | "repoName";
    };

export interface RepoAccessOptions {
  /** Default 5000: the whole exchange, body included. */
  timeoutMs?: number;
  /** Default 256 KiB: a repository's JSON is a few KiB; more is refused unread. */
  maxBytes?: number;
}

/** Gitea's `AlphaDashDot` (`[-_.A-Za-z0-9]+`) and its limit on repository names. */
const NAME = /^[-_.A-Za-z0-9]+$/;
const MAX_NAME = 100;
/** Names and suffixes Gitea reserves for repositories (`IsUsableRepoName`). */
const RESERVED = new Set([".", "..", "-"]);
const RESERVED_SUFFIXES = [".git", ".wiki", ".rss", ".atom"];
/** What a token may be: visible ASCII, no spaces (so no header injection), and not huge. */
const TOKEN = /^[\x21-\x7e]{1,8192}$/;

/** Why `name` cannot be a Gitea owner or repository name, or undefined when it can. */
export function repoNameProblem(name: string): string | undefined {
  if (name.length === 0) return "is empty";
  if (name.length > MAX_NAME) return `is longer than ${MAX_NAME} characters`;
  if (!NAME.test(name)) return "may hold only letters, digits, '-', '_' and '.'";
  if (RESERVED.has(name) || name.includes("..")) return "may not be '.', '-' or contain '..'";
  const lower = name.toLowerCase();
  const suffix = RESERVED_SUFFIXES.find((s) => lower.endsWith(s));
  if (suffix) return `may not end with '${suffix}'`;
  return undefined;
}

type Failure = Extract<RepoAccess, { ok: false }>;
const failure = (reason: Failure["reason"], message: string): Failure => ({ ok: false, reason, message });

/**
 * Asks the git server whether `token`'s user may read `owner/repo`. `token` undefined: asks
 * anonymously (a public repository is still readable; the demo's `--auth=none` has no token).
 */
export async function checkRepoAccess(
  fetchFn: FetchLike,
  apiBase: string,
  token: string | undefined,
  owner: string,
  repo: string,
  opts: RepoAccessOptions = {},
): Promise<RepoAccess> {
  for (const [field, value] of [
    ["repoOwner", owner],
    ["repoName", repo],
  ] as const) {
    const problem = repoNameProblem(value);
    if (problem) return { ...failure("invalid", `${field} ${problem}`), field };
  }
  if (token !== undefined && !TOKEN.test(token))
    return failure("unauthenticated", "the access token is not a valid header value: log in again");
  const url = `${apiBase.replace(/\/+$/, "")}/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}`;
  const headers: Record<string, string> = { accept: "application/json" };
  if (token !== undefined) headers.authorization = `token ${token}`;
  const signal = AbortSignal.timeout(opts.timeoutMs ?? 5000);
  const where = `the git server's repository API (${new URL(url).origin})`;
  try {
    const res = await fetchFn(url, { method: "GET", headers, redirect: "manual", signal });
    const status = statusFailure(res.status, `${owner}/${repo}`, where);
    if (status) {
      await res.body?.cancel().catch(() => undefined);
      return status;
    }
    const body = await readBounded(res, opts.maxBytes ?? 256 * 1024);
    if (body === undefined) return failure("unavailable", `${where} answered more than expected`);
    return fromRepository(body, `${owner}/${repo}`, where);
  } catch (err) {
    const timedOut = signal.aborted;
    const why = timedOut ? "did not answer in time" : `could not be reached (${errorCode(err)})`;
    return failure("unavailable", `${where} ${why}: try again later`);
  }
}

/** The refusal a non-200 status means, or undefined for 200. */
function statusFailure(status: number, repo: string, where: string): Failure | undefined {
  if (status === 200) return undefined;
  if (status === 401)
    return failure("unauthenticated", `${where} did not accept your token (401): log in again`);
  if (status === 403) return failure("denied", `you may not read repository ${repo} (403)`);
  if (status === 404)
    return failure("not_found", `repository ${repo} does not exist, or you may not see it (404)`);
  if (status >= 300 && status < 400)
    return failure("not_found", `repository ${repo} was moved or renamed (${status}): use its new name`);
  return failure("unavailable", `${where} answered ${status}: try again later`);
}

/** The body as text, or undefined once it passes `max` bytes (the rest is not read). */
async function readBounded(res: Response, max: number): Promise<string | undefined> {
  const declared = Number(res.headers.get("content-length") ?? NaN);
  if (declared > max) {
    await res.body?.cancel().catch(() => undefined);
    return undefined;
  }
  if (!res.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > max) {
      await res.body.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** A Gitea repository JSON to the answer; `permissions.pull: false` is a refusal. */
function fromRepository(text: string, repo: string, where: string): RepoAccess {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return failure("unavailable", `${where} answered something that is not JSON`);
  }
  if (!isObject(v)) return failure("unavailable", `${where} answered something that is not a repository`);
  const { clone_url: cloneUrl, default_branch: defaultBranch, private: priv, permissions } = v;
  if (typeof cloneUrl !== "string" || !/^https?:\/\//.test(cloneUrl))
    return failure("unavailable", `${where} answered a repository without an http(s) clone_url`);
  if (typeof defaultBranch !== "string" || defaultBranch === "")
    return failure("unavailable", `${where} answered a repository without a default_branch`);
  if (typeof priv !== "boolean")
    return failure("unavailable", `${where} answered a repository without a boolean private`);
  if (isObject(permissions) && permissions.pull === false)
    return failure("denied", `you may not read repository ${repo}`);
  return { ok: true, cloneUrl, defaultBranch, private: priv };
}

/** A network error's code (ECONNREFUSED…), never its message (which could quote a URL). */
function errorCode(err: unknown): string {
  const cause = isObject(err) && isObject(err.cause) ? err.cause : undefined;
  const code = cause?.code ?? (isObject(err) ? err.code : undefined);
  return typeof code === "string" ? code : "network error";
}
