/**
 * The New workspace form's pure parts: the request body from what was typed, and which input an API
 * error's `field` (a dotted path, docs/api.md "Errors") belongs to.
 */

/** A class as GET /api/v1/classes lists it. */
export interface WorkspaceClass {
  name: string;
  displayName?: string;
  description?: string;
  defaults: { storage?: string | number; idleTimeout?: string };
  bounds: {
    maxStorage?: string | number;
    maxCpu?: string | number;
    maxMemory?: string | number;
    maxIdleTimeout?: string;
  };
  /** Lifecycle (issue 15): when the warning comes, and the longest keep-alive (Go durations). */
  idle?: { warnBefore: string; maxKeepAlive: string };
}

export interface FormValues {
  className: string;
  name: string;
  repository: string;
  storage: string;
  running: boolean;
}

/** The inputs of the form, by the name the API's `field` starts with. */
export const FORM_FIELDS = ["className", "name", "repository", "storage", "running"] as const;
export type FormField = (typeof FORM_FIELDS)[number];

/** The values a class starts the form with. */
export function initialValues(c: WorkspaceClass | undefined): FormValues {
  return {
    className: c?.name ?? "",
    name: "",
    repository: "",
    storage: c?.defaults.storage === undefined ? "" : String(c.defaults.storage),
    running: true,
  };
}

/** The POST /api/v1/workspaces body: empty inputs are left out, so the API's defaults apply. */
export function createBody(v: FormValues): Record<string, unknown> {
  const body: Record<string, unknown> = { className: v.className, running: v.running };
  if (v.name.trim()) body.name = v.name.trim();
  if (v.repository.trim()) body.repository = { url: v.repository.trim() };
  if (v.storage.trim()) body.storage = { size: v.storage.trim() };
  return body;
}

/** The input an API error's `field` is about (`repository.url` → repository); undefined: the form's own. */
export function fieldOf(apiField: string | undefined): FormField | undefined {
  const head = apiField?.split(".")[0];
  return FORM_FIELDS.find((f) => f === head);
}

/** A sentence about the class's bounds, shown under the storage input. */
export function boundsHint(c: WorkspaceClass | undefined): string {
  if (!c) return "";
  const parts: string[] = [];
  if (c.defaults.storage !== undefined) parts.push(`default ${c.defaults.storage}`);
  if (c.bounds.maxStorage !== undefined) parts.push(`at most ${c.bounds.maxStorage}`);
  return parts.join(", ");
}
