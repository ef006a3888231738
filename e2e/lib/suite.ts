/**
 * The set-up most e2e files share, registered as the file's before/after hooks: a namespace of its
 * own, WorkspaceClasses under unique names, the real operator (its own Lease), and workspaces
 * waited Ready; torn down after the file in reverse: the file's own teardowns (proxies, providers,
 * browsers), the operator, the namespace (waited until gone), the classes.
 *
 *   const suite = clusterSuite("proxy-host", {
 *     classes: { jupyter: jupyterClass, echo: echoClass },
 *     workspaces: [{ name: "nb", class: "jupyter" }],
 *   });
 *   before(async () => {
 *     await suite.ready();
 *     px = await startProxy(...);
 *     suite.onTeardown(() => px.stop());
 *   });
 *   test("…", () => use(suite.ns, suite.cls.jupyter));
 */
import { after, before } from "node:test";
import type { WorkspaceClass, WorkspaceSpec } from "../../crds/types.ts";
import { clients, uniqueName, withNamespace, type Clients } from "./kube.ts";
import { startOperator, type OperatorProcess } from "./operator.ts";
import {
  createClass,
  createWorkspace,
  deleteClass,
  isReady,
  waitWorkspace,
  workspace,
} from "./workspaces.ts";

export interface SuiteWorkspace<K extends string> {
  name: string;
  class: K;
  owner?: string;
  spec?: Partial<WorkspaceSpec>;
  /** How long it may take to be Ready (default 90 s). */
  readyTimeoutMs?: number;
}

export interface SuiteOptions<K extends string> {
  /** Class key → how to make that class under a given (unique) name. */
  classes?: Record<K, (name: string) => WorkspaceClass>;
  /** Extra operator flags; `false`: no operator. */
  operator?: string[] | false;
  workspaces?: SuiteWorkspace<K>[];
}

export interface ClusterSuite<K extends string> {
  readonly c: Clients;
  /** The namespace (set before the tests run). */
  readonly ns: string;
  /** Class key → the class's unique name. */
  readonly cls: Readonly<Record<K, string>>;
  readonly op: OperatorProcess;
  /**
   * Resolves once the suite's set-up is done. node:test starts a file's top-level hooks as they are
   * registered, without waiting for the earlier ones: a file's own `before` awaits this first.
   */
  ready(): Promise<void>;
  /** Runs `fn` at teardown, before the operator stops and the namespace goes (latest first). */
  onTeardown(fn: () => Promise<unknown> | unknown): void;
}

export function clusterSuite<K extends string = never>(
  prefix: string,
  o: SuiteOptions<K> = {},
): ClusterSuite<K> {
  const c = clients();
  const cls = Object.fromEntries(
    // Keys may be camelCase; names are DNS labels.
    Object.keys(o.classes ?? {}).map((k) => [
      k,
      uniqueName(`${k.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`)}-${prefix}`.slice(0, 40)),
    ]),
  ) as Record<K, string>;
  const teardowns: (() => Promise<unknown> | unknown)[] = [];
  let ns: { name: string; drop: () => Promise<void> } | undefined;
  let op: OperatorProcess | undefined;
  const created: string[] = [];

  let setup: Promise<void> | undefined;
  before(() => (setup = set()));
  async function set(): Promise<void> {
    ns = await withNamespace(c, prefix);
    for (const [key, make] of Object.entries(o.classes ?? {}) as [K, (name: string) => WorkspaceClass][]) {
      await createClass(c, make(cls[key]));
      created.push(cls[key]);
    }
    if (o.operator !== false)
      op = await startOperator([`--lease-name=${prefix}`, ...(o.operator ?? [])], `${prefix}-operator`);
    for (const w of o.workspaces ?? [])
      await createWorkspace(
        c,
        workspace(ns.name, w.name, {
          className: cls[w.class],
          ...(w.owner ? { owner: w.owner } : {}),
          ...w.spec,
        }),
      );
    for (const w of o.workspaces ?? [])
      await waitWorkspace(c, ns.name, w.name, "Ready", isReady, w.readyTimeoutMs ?? 90_000);
  }

  after(async () => {
    await setup?.catch(() => undefined); // a set-up still running (or failed) is finished first
    for (const fn of teardowns.reverse()) await fn();
    await op?.stop();
    await ns?.drop();
    for (const name of created) await deleteClass(c, name);
  });

  return {
    c,
    ready: () => setup ?? Promise.reject(new Error("the suite's before hook has not started")),
    get ns() {
      if (!ns) throw new Error("the suite's namespace exists only once its before hook ran");
      return ns.name;
    },
    cls,
    get op() {
      if (!op) throw new Error("this suite runs no operator, or its before hook has not run");
      return op;
    },
    onTeardown: (fn) => void teardowns.push(fn),
  };
}
