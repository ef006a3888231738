/**
 * The resource views' service: each operation authorized by SubjectAccessReview as the caller first,
 * then read as the proxy's ServiceAccount, then turned into views (views.ts). Answers are plain values
 * or a ViewError; the HTTP glue is resources.ts.
 *
 * Invariants:
 * - nothing is read from the cluster for a caller before RBAC allowed them that verb on that kind in
 *   that namespace (and, for one object, that name), so a 404 never tells an outsider what exists;
 * - a Secret's values leave only through `revealedSecret`, for a request that asked for a reveal, on a
 *   proxy with revealSecrets on, for a caller allowed to `get` that Secret; each reveal is logged
 *   with who and which Secret, never a value;
 * - objects and the API server's answers about Secrets are never logged.
 */
import type { Logger } from "../../common/runtime/log.ts";
import type { Identity } from "../auth/identity.ts";
import type { Authorizer } from "./authorizer.ts";
import { ClusterDown, mapLimited, type Reach } from "./authorizer.ts";
import type { ClusterClient } from "./cluster-client.ts";
import { apiPath, KINDS, kindOf, resourceLabel, type KindInfo } from "./kinds.ts";
import { subjectOf, type RbacPrefixes, type Subject } from "./sar.ts";
import { revealedSecret, viewOf, type RawObject } from "./views.ts";

/** A refusal the caller sees as `{error, message}`. */
export class ViewError extends Error {
  override name = "ViewError";
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export interface ResourceViewsDeps {
  cluster: ClusterClient;
  authorizer: Authorizer;
  /** Serve the secrets kind (names, types, key names). */
  secrets: boolean;
  /** Allow `?reveal=true` on a Secret (values), for callers RBAC allows `get` on it. */
  revealSecrets: boolean;
  /** Put before user and group names in the reviews. */
  prefixes?: RbacPrefixes;
  log: Logger;
}

/** Requests to the API server in flight at once for one caller's request. */
const READ_CONCURRENCY = 8;
/** Metadata only: what a count or the namespace list needs, without objects' contents. */
const METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";

const unavailable = () =>
  new ViewError(503, "unavailable", "the cluster could not be asked; retry in a moment");

export class ResourceViews {
  private readonly d: ResourceViewsDeps;

  constructor(deps: ResourceViewsDeps) {
    this.d = deps;
  }

  /** The kinds this proxy serves. */
  kinds(): KindInfo[] {
    return KINDS.filter((k) => k.name !== "secrets" || this.d.secrets);
  }

  /** `who` as RBAC sees them, or 403 for a name Kubernetes reserves. */
  subject(who: Identity): Subject {
    const s = subjectOf(who, this.d.prefixes);
    if (!s)
      throw new ViewError(
        403,
        "forbidden",
        `user ${JSON.stringify(who.user)} is reserved by Kubernetes (system:)`,
      );
    return s;
  }

  /** A served kind, or 404 for one this proxy does not serve (secrets without --console-secrets). */
  served(kind: KindInfo): KindInfo {
    if (!this.kinds().includes(kind))
      throw new ViewError(
        404,
        "not_served",
        `this proxy does not serve ${kind.name} (console.resources.secrets in the chart, --console-secrets)`,
      );
    return kind;
  }

  /** 403 unless RBAC lets `s` do it; the message names the verb and the resource. */
  async require(s: Subject, verb: "get" | "list", kind: KindInfo, namespace?: string, name?: string) {
    if (await this.guard(() => this.d.authorizer.may(s, { verb, kind, namespace, name }))) return;
    const what = `${resourceLabel(kind)}${name ? ` ${JSON.stringify(name)}` : ""}`;
    const where = kind.namespaced ? (namespace ? ` in namespace ${namespace}` : " in every namespace") : "";
    throw new ViewError(
      403,
      "forbidden",
      `your RBAC does not allow ${verb} ${what}${where}; ask for a Role that grants it`,
    );
  }

  /** Whether `s` may list `kind` in `namespace` (cluster-wide without one). */
  mayList(s: Subject, kind: KindInfo, namespace?: string): Promise<boolean> {
    return this.guard(() => this.d.authorizer.may(s, { verb: "list", kind, namespace }));
  }

  /** The API server's version (`/version`, readable by anyone). */
  async version(): Promise<{ version: string; major: string; minor: string }> {
    const answer = await this.guard(() => this.d.cluster.get("/version"));
    const v = (answer.status === 200 ? answer.body : undefined) as
      { gitVersion?: string; major?: string; minor?: string } | undefined;
    return { version: v?.gitVersion ?? "", major: v?.major ?? "", minor: v?.minor ?? "" };
  }

  /** Every namespace's name (as the proxy sees them). */
  async namespaceNames(): Promise<string[]> {
    const list = await this.read(kindOf("namespaces")!, undefined, undefined, METADATA_ONLY);
    return this.items(list)
      .map((o) => o.metadata?.name ?? "")
      .filter(Boolean)
      .sort();
  }

  /** Where `s` may list `kind`. */
  reach(s: Subject, kind: KindInfo, names?: () => Promise<string[]>): Promise<Reach> {
    return this.guard(() => this.d.authorizer.reach(s, kind, names ?? (() => this.namespaceNames())));
  }

  /** The views of `kind` that `s` may list: in `namespace`, else wherever RBAC lets them. */
  async list(s: Subject, kind: KindInfo, namespace?: string) {
    this.served(kind);
    if (namespace || !kind.namespaced) {
      await this.require(s, "list", kind, namespace);
      const items = this.items(await this.read(kind, namespace));
      return {
        kind: kind.name,
        ...(namespace ? { namespace } : {}),
        items: items.map((o) => viewOf(kind.name, o)),
      };
    }
    const reach = await this.reach(s, kind);
    if (reach.everywhere) {
      const items = this.items(await this.read(kind));
      return { kind: kind.name, items: items.map((o) => viewOf(kind.name, o)) };
    }
    if (reach.namespaces.length === 0) await this.require(s, "list", kind);
    const lists = await mapLimited(reach.namespaces, READ_CONCURRENCY, (ns) => this.read(kind, ns));
    const items = lists.flatMap((l) => this.items(l));
    return { kind: kind.name, namespaces: reach.namespaces, items: items.map((o) => viewOf(kind.name, o)) };
  }

  /** One object's view; a Secret's values only on a permitted reveal. */
  async get(
    who: Identity,
    s: Subject,
    kind: KindInfo,
    name: string,
    namespace: string | undefined,
    reveal: boolean,
  ) {
    this.served(kind);
    if (reveal && !this.d.revealSecrets)
      throw new ViewError(
        403,
        "reveal_disabled",
        "this proxy does not reveal Secret values (console.resources.revealSecrets in the chart, --console-reveal-secrets)",
      );
    await this.require(s, "get", kind, namespace, name);
    const o = (await this.read(kind, namespace, name)) as RawObject;
    if (!reveal) return viewOf(kind.name, o);
    const view = revealedSecret(o);
    // Who revealed which Secret: never a value (the keys' names only).
    this.d.log.info("console: secret revealed", {
      user: who.user,
      target: `${namespace}/${name}`,
      keys: Object.keys(view.values),
    });
    return view;
  }

  /** How many objects of `kind` in `namespace` (else cluster-wide): metadata only, one item at most. */
  async count(kind: KindInfo, namespace?: string): Promise<number> {
    const first = (await this.read(kind, namespace, undefined, METADATA_ONLY, { limit: "1" })) as {
      items?: unknown[];
      metadata?: { remainingItemCount?: number; continue?: string };
    };
    const n = first.items?.length ?? 0;
    if (!first.metadata?.continue) return n;
    if (typeof first.metadata.remainingItemCount === "number") return n + first.metadata.remainingItemCount;
    // The server gave no estimate: count every item's metadata.
    return this.items(await this.read(kind, namespace, undefined, METADATA_ONLY)).length;
  }

  /** GET one path as the proxy; 404 → not found, anything else but 200 → 503 (logged, never the body). */
  async read(
    kind: KindInfo,
    namespace?: string,
    name?: string,
    accept?: string,
    query: Record<string, string> = {},
  ): Promise<unknown> {
    const path = apiPath(kind, namespace, name);
    const answer = await this.guard(() => this.d.cluster.get(path, query, accept));
    if (answer.status === 200) return answer.body;
    if (answer.status === 404 && name)
      throw new ViewError(
        404,
        "not_found",
        `${resourceLabel(kind)} ${JSON.stringify(name)}${namespace ? ` in namespace ${namespace}` : ""} not found`,
      );
    if (answer.status === 404) return { items: [] }; // a namespace that does not exist holds nothing
    this.d.log.warn("console: the API server refused a read", { path, status: answer.status });
    throw unavailable();
  }

  items(list: unknown): RawObject[] {
    const items = (list as { items?: unknown } | null)?.items;
    return Array.isArray(items) ? (items as RawObject[]) : [];
  }

  /** Runs `fn`; a cluster that could not be asked becomes 503 (logged without a stack). */
  async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ViewError) throw err;
      this.d.log.warn("console: the cluster could not be asked", {
        err: err instanceof ClusterDown ? err.message : String(err),
      });
      throw unavailable();
    }
  }
}
