/**
 * The self-service REST API (docs/api.md) from the browser: same origin, the session cookie, JSON.
 * Every failure becomes an ApiError with the API's `error`, `message` and `field`.
 */
import type { WorkspaceClass } from "./form.ts";
import type { Workspace } from "./workspace.ts";

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  constructor(status: number, code: string, message: string, field?: string) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export interface Stats {
  totalInstances: number;
  runningInstances: number;
  stoppedInstances: number;
  totalStorageUsed: number;
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: {
        accept: "application/json",
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    throw new ApiError(
      0,
      "offline",
      "the console could not reach the server; check the connection and retry",
    );
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const e = (json ?? {}) as { error?: string; message?: string; field?: string };
    throw new ApiError(
      res.status,
      e.error ?? "http_" + res.status,
      e.message ?? `the server answered ${res.status}`,
      e.field,
    );
  }
  return json as T;
}

const wsPath = (ns: string, name: string) =>
  `/api/v1/workspaces/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`;

export const api = {
  list: (all = false) =>
    call<{ items: Workspace[] }>("GET", `/api/v1/workspaces${all ? "?all=true" : ""}`).then((r) => r.items),
  get: (ns: string, name: string) => call<Workspace>("GET", wsPath(ns, name)),
  create: (body: Record<string, unknown>) => call<Workspace>("POST", "/api/v1/workspaces", body),
  start: (ns: string, name: string) => call<Workspace>("POST", `${wsPath(ns, name)}/start`),
  stop: (ns: string, name: string) => call<Workspace>("POST", `${wsPath(ns, name)}/stop`),
  sync: (ns: string, name: string) => call<unknown>("POST", `${wsPath(ns, name)}/sync`),
  /** Lifecycle (issue 15): keep it alive for `duration` (Go duration, capped by the class; `0s` cancels). */
  keepAlive: (ns: string, name: string, duration: string) =>
    call<Workspace>("POST", `${wsPath(ns, name)}/keepalive`, { duration }),
  remove: (ns: string, name: string, deleteVolume: boolean) =>
    call<unknown>("DELETE", `${wsPath(ns, name)}${deleteVolume ? "?deleteVolume=true" : ""}`),
  classes: () => call<{ items: WorkspaceClass[] }>("GET", "/api/v1/classes").then((r) => r.items),
  stats: () => call<Stats>("GET", "/api/v1/stats"),
};
