/**
 * The REST API's OpenAPI 3.1 document: the one source of truth for what the API takes and answers.
 * The router (./rest.ts) validates every request against its request schemas (./validate.ts), it is
 * served as is at `GET /api/v1/openapi.json`, and docs/api.md is generated from it
 * (scripts/api-reference.ts). Change a route here, and its validation, its documentation and the
 * served document change with it. No I/O here.
 *
 * Schemas are JSON Schema 2020-12 (what OpenAPI 3.1 uses). Request schemas are closed
 * (`additionalProperties: false`): an unknown field is refused with its name, never ignored. Where a
 * pattern checks a value, the schema's `title` says in words what the value must be: the validator
 * puts it in the message (`storage.size must be a Kubernetes quantity such as 10Gi`).
 *
 * Routes marked `x-portico-surface` are served by another surface of the proxy (the status streams,
 * GraphQL): they are documented here so the document describes everything under /api/v1, but the
 * REST router does not register them.
 */
import type { ApiErrorCode } from "./types.ts";

/** The base of every REST route. */
export const API_PREFIX = "/api/v1";
/** The `$id` the validator registers the document under (the document's own address). */
export const DOCUMENT_ID = "https://portico.dev/api/v1/openapi.json";

// -- value formats ------------------------------------------------------------------------------------

const DNS_LABEL = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
const DNS_SUBDOMAIN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/** As the CRD's `owner` and `sharedWith.users`. */
const USER = "^[A-Za-z0-9]([A-Za-z0-9._@+-]*[A-Za-z0-9])?$";
/** As the CRD's quantities (Kubernetes resource.Quantity). */
const QUANTITY =
  "^\\+?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$";
/** A Go duration as the operator parses it (30m, 2h, 1h30m; 0s). */
const DURATION = "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$";
/** The CRD's two URL rules in one: a git URL, and no credentials in an http(s) one. */
const GIT_URL =
  "^(https?://[^\\s/?#@]+(/\\S*)?|(ssh|git)://[^\\s/?#]+(/\\S*)?|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\\s/]\\S*)$";
/** The CRD's git ref rules in one: no `..`, no trailing `/` or `.lock`. */
const GIT_REF = "^(?!.*\\.\\.)(?!.*/$)(?!.*\\.lock$)[A-Za-z0-9_][A-Za-z0-9._/+-]*$";
/** A resource name (`cpu`, `memory`, `nvidia.com/gpu`), as the CRD's. */
const RESOURCE_NAME =
  "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$";
/** Gitea's owner names (users and organizations). */
const REPO_OWNER = "^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$";
/** Gitea's repository names, without `.` and `..`. */
const REPO_NAME = "^(?!\\.\\.?$)[A-Za-z0-9._-]+$";

/** A JSON Schema object as this document writes them (loosely typed: it is data). */
export type Schema = Record<string, unknown>;

const str = (pattern: string, title: string, maxLength: number, extra: Schema = {}): Schema => ({
  type: "string",
  title,
  minLength: 1,
  maxLength,
  pattern,
  ...extra,
});
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });

/** `{size}`: a volume's size in a create or an update (what bounds and the CRD then check). */
const volumeSize = (description: string): Schema => ({
  type: "object",
  additionalProperties: false,
  properties: { size: { ...ref("Quantity"), type: ["string", "integer"], minimum: 1, description } },
});

/** Formats and request schemas. */
const requestSchemas: Record<string, Schema> = {
  DnsLabel: str(DNS_LABEL, "a DNS label (lower-case letters, digits and '-', at most 63)", 63),
  WorkspaceName: str(
    "^[a-z]([-a-z0-9]*[a-z0-9])?$",
    "a workspace name: lower-case letters, digits and '-', starting with a letter, at most 40 characters",
    40,
  ),
  ClassName: str(DNS_SUBDOMAIN, "a WorkspaceClass name (GET /api/v1/classes lists them)", 253),
  UserName: str(USER, "a user name (letters, digits and ._@+-)", 128),
  GroupName: str("^\\S+$", "a group name without spaces", 253),
  Quantity: {
    type: ["string", "integer"],
    title: "a Kubernetes quantity such as 10Gi, 500m or 2",
    pattern: QUANTITY,
    minLength: 1,
    maxLength: 64,
    minimum: 0,
    examples: ["10Gi"],
  },
  Duration: str(DURATION, "a duration such as 30m, 2h or 1h30m (0s: never)", 32, { examples: ["2h"] }),
  Resources: {
    type: "object",
    description: "Compute resources of the IDE container; what is left out comes from the class.",
    additionalProperties: false,
    properties: {
      requests: { $ref: "#/components/schemas/ResourceList" },
      limits: { $ref: "#/components/schemas/ResourceList" },
    },
  },
  ResourceList: {
    type: "object",
    title: "resources by name (cpu, memory, ephemeral-storage, ...)",
    maxProperties: 16,
    propertyNames: { title: "a resource name such as cpu or memory", pattern: RESOURCE_NAME, maxLength: 316 },
    additionalProperties: ref("Quantity"),
    examples: [{ cpu: "1", memory: "2Gi" }],
  },
  Sharing: {
    type: "object",
    description: "Who else may open the workspace besides its owner.",
    additionalProperties: false,
    properties: {
      users: { type: "array", maxItems: 64, uniqueItems: true, items: ref("UserName") },
      groups: { type: "array", maxItems: 64, uniqueItems: true, items: ref("GroupName") },
    },
  },
  Repository: {
    type: "object",
    description: "A git repository the workspace clones before the IDE starts.",
    additionalProperties: false,
    required: ["url"],
    properties: {
      url: str(
        GIT_URL,
        "a git URL (https://, http://, ssh://, git:// or git@host:path) without credentials",
        2048,
      ),
      ref: str(GIT_REF, "a git branch, tag or commit", 255),
    },
  },
  CreateRequest: {
    type: "object",
    description:
      "A new workspace. The owner is the caller, always; the namespace is the one the API's mapping gives the caller.",
    additionalProperties: false,
    required: ["className"],
    properties: {
      name: { ...ref("WorkspaceName"), description: "Generated from the class when absent." },
      namespace: { ...ref("DnsLabel"), description: "Must be the caller's namespace when given." },
      className: ref("ClassName"),
      repository: ref("Repository"),
      storage: volumeSize("Volume size; at most the class's maxStorage."),
      resources: ref("Resources"),
      idleTimeout: ref("Duration"),
      running: { type: "boolean", description: "Start it now (default true)." },
      sharedWith: ref("Sharing"),
    },
    examples: [{ className: "jupyterlab", storage: { size: "5Gi" }, idleTimeout: "2h" }],
  },
  UpdateRequest: {
    type: "object",
    description: "A JSON merge patch (RFC 7396) of the fields a user may change.",
    additionalProperties: false,
    minProperties: 1,
    properties: {
      running: { type: "boolean" },
      storage: volumeSize("Volumes only grow."),
      resources: ref("Resources"),
      idleTimeout: ref("Duration"),
      sharedWith: ref("Sharing"),
    },
    examples: [{ idleTimeout: "4h", sharedWith: { users: ["bob"] } }],
  },
  KeepAliveRequest: {
    type: "object",
    description:
      "No idle stop before now + duration (issue 15). At most the class's idle.maxKeepAlive (default 8h); `0s` cancels.",
    additionalProperties: false,
    required: ["duration"],
    properties: {
      duration: { type: "string", maxLength: 32, description: "A Go duration: 30m, 3h, 1h30m; 0s cancels." },
    },
    examples: [{ duration: "3h" }],
  },
  ProvisionRequest: {
    type: "object",
    additionalProperties: false,
    required: ["repoOwner", "repoName"],
    properties: {
      repoOwner: str(REPO_OWNER, "a git server user or organization name", 64),
      repoName: str(REPO_NAME, "a repository name (letters, digits and ._-)", 100),
    },
    examples: [{ repoOwner: "alice", repoName: "thesis" }],
  },
  AnalysisRequest: {
    type: "object",
    additionalProperties: false,
    required: ["ide"],
    properties: { ide: { ...ref("ClassName"), description: "The class (option) to run." } },
    examples: [{ ide: "jupyterlab" }],
  },
};

// -- responses ----------------------------------------------------------------------------------------

const dateTime = { type: "string", format: "date-time" };
const text = { type: "string" };

const responseSchemas: Record<string, Schema> = {
  Condition: {
    type: "object",
    required: ["type", "status", "reason", "message", "lastTransitionTime"],
    properties: {
      type: text,
      status: { enum: ["True", "False", "Unknown"] },
      reason: text,
      message: text,
      lastTransitionTime: dateTime,
      observedGeneration: { type: "integer" },
    },
  },
  Sync: {
    type: "object",
    description: "The last sync the user asked for, as the operator reported it.",
    required: ["requested", "state"],
    properties: {
      requested: { ...text, description: "The sync request's id." },
      state: { enum: ["Pending", "Running", "Succeeded", "Failed"] },
      commit: { ...text, description: "The commit the working tree is on after the merge." },
      conflicts: {
        type: "array",
        items: text,
        description: "Files changed both locally and upstream: the user's version was kept.",
      },
      message: text,
    },
  },
  Workspace: {
    type: "object",
    description: "A workspace as the API shows it. Its resourceVersion is the ETag of single-object answers.",
    required: [
      "namespace",
      "name",
      "owner",
      "className",
      "running",
      "phase",
      "status",
      "ready",
      "message",
      "storage",
      "conditions",
      "createdAt",
      "idleStopped",
      "resourceVersion",
    ],
    properties: {
      namespace: text,
      name: text,
      owner: text,
      className: text,
      running: { type: "boolean", description: "What the user asked for (spec.running)." },
      phase: { enum: ["Pending", "Starting", "Running", "Stopping", "Stopped", "Failed"] },
      status: {
        enum: ["PENDING", "STARTING", "RUNNING", "STOPPING", "STOPPED", "ERROR"],
        description: "The phase as GraphQL's InstanceStatus.",
      },
      ready: { type: "boolean", description: "The Ready condition is True: the URL answers." },
      url: { ...text, description: "Where the IDE opens, once the operator published it." },
      message: text,
      repository: {
        type: "object",
        required: ["url"],
        properties: { url: text, ref: text },
      },
      storage: {
        type: "object",
        required: ["reclaimPolicy", "scope"],
        properties: {
          size: { type: ["string", "integer"] },
          reclaimPolicy: { enum: ["Retain", "Delete"] },
          scope: { enum: ["workspace", "user"] },
        },
      },
      resources: {
        type: "object",
        properties: {
          requests: { type: "object", additionalProperties: { type: ["string", "integer"] } },
          limits: { type: "object", additionalProperties: { type: ["string", "integer"] } },
        },
      },
      idleTimeout: text,
      sharedWith: {
        type: "object",
        properties: { users: { type: "array", items: text }, groups: { type: "array", items: text } },
      },
      conditions: { type: "array", items: ref("Condition") },
      createdAt: dateTime,
      lastActivity: {
        ...dateTime,
        description:
          "status.lastActivity: the newest activity of any kind; the idle timeout counts from here.",
      },
      stopsAt: {
        ...dateTime,
        description: "status.stopsAt: when the workspace stops for idleness unless there is activity first.",
      },
      keepAliveUntil: {
        ...dateTime,
        description: "An explicit keep-alive in force: no idle stop before this time.",
      },
      idleStopped: {
        type: "boolean",
        description: "Stopped for idleness, not by its user: opening its URL or a start wakes it.",
      },
      resourceVersion: text,
      sync: ref("Sync"),
    },
  },
  WorkspaceList: {
    type: "object",
    required: ["items"],
    properties: { items: { type: "array", items: ref("Workspace") } },
  },
  Class: {
    type: "object",
    description: "An option a user may pick, with its defaults and the most a request may ask for.",
    required: ["name", "defaults", "bounds", "userLimits", "idle"],
    properties: {
      name: text,
      displayName: text,
      description: text,
      defaults: {
        type: "object",
        properties: {
          storage: { type: ["string", "integer"] },
          resources: { type: "object" },
          idleTimeout: text,
        },
      },
      bounds: {
        type: "object",
        properties: {
          maxStorage: { type: ["string", "integer"] },
          maxCpu: { type: ["string", "integer"] },
          maxMemory: { type: ["string", "integer"] },
          maxIdleTimeout: text,
        },
      },
      userLimits: {
        type: "object",
        properties: { maxWorkspaces: { type: "integer" }, maxRunning: { type: "integer" } },
      },
      idle: {
        type: "object",
        required: ["warnBefore", "maxKeepAlive"],
        properties: { warnBefore: text, maxKeepAlive: text },
      },
    },
  },
  ClassList: {
    type: "object",
    required: ["items"],
    properties: { items: { type: "array", items: ref("Class") } },
  },
  SyncResult: {
    type: "object",
    required: ["workspace", "request"],
    properties: {
      workspace: ref("Workspace"),
      request: {
        ...text,
        description: "The sync request's id: status.sync.requested once the operator took it.",
      },
    },
  },
  ProvisionResult: {
    type: "object",
    required: ["workspace", "message", "isNew"],
    properties: {
      workspace: ref("Workspace"),
      message: text,
      isNew: { type: "boolean", description: "false: the caller's existing workspace for the repository." },
    },
  },
  Stats: {
    type: "object",
    required: ["totalInstances", "runningInstances", "stoppedInstances", "totalStorageUsed"],
    properties: {
      totalInstances: { type: "integer" },
      runningInstances: { type: "integer" },
      stoppedInstances: { type: "integer" },
      totalStorageUsed: { type: "integer", description: "Bytes of volume capacity asked for." },
    },
  },
  Error: {
    type: "object",
    description:
      "Every refusal: a machine-readable code, a message that says what to do, the field it is about.",
    required: ["error", "message"],
    properties: {
      error: { type: "string", description: "A code of the errors table." },
      message: text,
      field: {
        ...text,
        description: "The request field, as a dotted path (storage.size), when one is to blame.",
      },
    },
  },
  LimitError: {
    type: "object",
    description: "429: a per-user limit. candidates: the caller's workspaces to stop or delete to make room.",
    required: ["error", "message", "reason", "limit", "current", "candidates"],
    properties: {
      error: { enum: ["too_many_workspaces", "too_many_running"] },
      message: text,
      reason: {
        ...text,
        description: "Which limit: workspaces or running, and whose (the API's or the class's).",
      },
      limit: { type: "integer" },
      current: { type: "integer" },
      candidates: {
        type: "array",
        items: {
          type: "object",
          required: ["namespace", "name", "phase"],
          properties: { namespace: text, name: text, phase: text, lastActivity: dateTime },
        },
      },
    },
  },
  GraphqlResponse: {
    type: "object",
    description: "A GraphQL response: data, and errors each with a machine-readable extensions.code.",
    properties: {
      data: { type: ["object", "null"] },
      errors: {
        type: "array",
        items: {
          type: "object",
          required: ["message"],
          properties: {
            message: text,
            path: { type: "array", items: { type: ["string", "integer"] } },
            extensions: { type: "object", properties: { code: text } },
          },
        },
      },
    },
  },
  StatusEvent: {
    type: "object",
    description:
      "The data of a status stream's `status` event (text/event-stream; id `{resourceVersion}.{routable 0|1}`, " +
      "a heartbeat comment now and then, `event: deleted` when the workspace goes).",
    required: [
      "namespace",
      "name",
      "phase",
      "ready",
      "routable",
      "message",
      "conditions",
      "repository",
      "steps",
    ],
    properties: {
      namespace: text,
      name: text,
      phase: text,
      ready: { type: "boolean" },
      routable: { type: "boolean", description: "The proxy routes to it now." },
      message: text,
      url: text,
      conditions: {
        type: "array",
        items: {
          type: "object",
          required: ["type", "status", "reason", "message"],
          properties: {
            type: text,
            status: text,
            reason: text,
            message: text,
            since: { ...dateTime, description: "The condition's lastTransitionTime." },
          },
        },
      },
      repository: { type: "boolean", description: "The workspace clones a repository." },
      steps: {
        type: "array",
        items: ref("Step"),
        description: "Storage, clone, pod, ready: the steps of a start, as the waiting page shows them.",
      },
    },
  },
  Step: {
    type: "object",
    description:
      "One step of a start (proxy/pages/steps.ts), derived from the conditions alone; times are absent " +
      "where the status does not say.",
    required: ["key", "label", "state", "detail"],
    properties: {
      key: { enum: ["storage", "clone", "pod", "ready"] },
      label: text,
      state: { enum: ["pending", "active", "done", "failed", "skipped"] },
      startedAt: dateTime,
      endedAt: dateTime,
      detail: { ...text, description: "The condition's message about the step now, or empty." },
    },
  },
};

// -- errors -------------------------------------------------------------------------------------------

/** The service's codes, and those the proxy answers itself (origin pass, its own limits, bugs). */
export type ErrorCode = ApiErrorCode | "cross_origin" | "body_too_large" | "rate_limited" | "internal";

/** Every error code the API answers with: its status and when. docs/api.md's table is this. */
export const ERROR_CATALOGUE: Readonly<Record<ErrorCode, [number, string]>> = {
  bad_request: [400, "Malformed JSON, or a request that cannot be read."],
  invalid: [400, "A field breaks the schema or a class's bounds; `field` names it."],
  unauthenticated: [401, "No valid credentials (a bearer token or the session cookie)."],
  forbidden: [403, "Not the caller's to change (a shared workspace), or an admin-only route."],
  cross_origin: [403, "An unsafe method from a page of another origin (a workspace's page, another site)."],
  repository_access_denied: [403, "The git server says the caller's token may not read the repository."],
  not_found: [404, "No such route, or no such workspace among those the caller may see."],
  method_not_allowed: [405, "The route exists, the method does not; `Allow` lists the methods."],
  conflict: [
    409,
    "The name is taken, or the workspace is not in a state that allows it (sync while stopped).",
  ],
  unprocessable: [
    422,
    "A well-formed request the workspace's class does not allow (a keep-alive longer than its maxKeepAlive); `field` names it.",
  ],
  precondition_failed: [412, "`If-Match` names a resourceVersion the workspace no longer has: GET it again."],
  payload_too_large: [413, "The body is larger than --api-max-body-bytes."],
  body_too_large: [413, "The declared body is larger than the proxy's --max-body-bytes (checked first)."],
  unsupported_media_type: [
    415,
    "The body is not `application/json` (PATCH: or `application/merge-patch+json`).",
  ],
  too_many_workspaces: [
    429,
    "The caller has as many workspaces as allowed; `candidates` says which to delete.",
  ],
  too_many_running: [429, "The caller runs as many workspaces as allowed; `candidates` says which to stop."],
  rate_limited: [
    429,
    "Too many requests (or open streams) by the caller or from their address; see Retry-After.",
  ],
  internal: [500, "A bug: the proxy logged it. Retry, then report it."],
  unavailable: [503, "The cluster or the git server could not be asked; retry."],
};

// -- paths --------------------------------------------------------------------------------------------

/** One operation as this document writes it. */
export interface Operation {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  parameters?: Schema[];
  requestBody?: { required: boolean; content: Record<string, { schema: Schema }> };
  responses: Record<string, Schema>;
  /** Served by another surface of the proxy (not the REST router). */
  "x-portico-surface"?: "status" | "graphql";
}

const param = (
  name: string,
  where: "path" | "query",
  schema: Schema,
  description: string,
  example?: unknown,
): Schema => ({
  name,
  in: where,
  required: where === "path",
  description,
  schema,
  ...(example !== undefined ? { example } : {}),
});
const NS = param("ns", "path", ref("DnsLabel"), "The workspace's namespace.");
const NAME = param("name", "path", ref("DnsLabel"), "The workspace's name.");
const DELETE_VOLUME = param(
  "deleteVolume",
  "query",
  { type: "boolean", default: false },
  "true: the workspace's own volume goes too (the files are lost). Default: the volume is kept.",
);
const IF_MATCH: Schema = {
  name: "If-Match",
  in: "header",
  required: false,
  description: 'The ETag (`"{resourceVersion}"`) last seen; 412 when the workspace changed since. `*`: any.',
  schema: { type: "string" },
};

const json = (schema: Schema) => ({ "application/json": { schema } });
const body = (name: string, types = ["application/json"]) => ({
  required: true,
  content: Object.fromEntries(types.map((t) => [t, { schema: ref(name) }])),
});
const etag = { ETag: { description: 'The resourceVersion, quoted: `"12345"`.', schema: { type: "string" } } };
const location = {
  Location: { description: "The workspace in the API: GET it to follow.", schema: { type: "string" } },
};
const ok = (description: string, schema: Schema, headers: Schema = {}): Schema => ({
  description,
  ...(Object.keys(headers).length ? { headers } : {}),
  content: json(schema),
});
const err = (code: string): Schema => ({ $ref: `#/components/responses/${code}` });
/** The refusals every route shares (its own come on top). */
const common = (...codes: string[]) =>
  Object.fromEntries(["400", "401", ...codes, "500"].sort().map((c) => [c, err(c)]));
const bodyErrors = ["413", "415"];

const workspaceRoutes: Record<string, Record<string, Operation>> = {
  [`${API_PREFIX}/workspaces`]: {
    get: {
      operationId: "listWorkspaces",
      summary: "The caller's workspaces and those shared with them",
      tags: ["Workspaces"],
      parameters: [
        param(
          "all",
          "query",
          { type: "boolean", default: false },
          "Admins only: every workspace (403 otherwise).",
        ),
      ],
      responses: { "200": ok("The workspaces.", ref("WorkspaceList")), ...common("403") },
    },
    post: {
      operationId: "createWorkspace",
      summary: "Create a workspace owned by the caller",
      tags: ["Workspaces"],
      requestBody: body("CreateRequest"),
      responses: {
        "201": ok("Created; it starts unless running is false.", ref("Workspace"), { ...etag, ...location }),
        ...common("403", "404", "409", "429", ...bodyErrors),
      },
    },
  },
  [`${API_PREFIX}/workspaces/{ns}/{name}`]: {
    get: {
      operationId: "getWorkspace",
      summary: "One workspace",
      tags: ["Workspaces"],
      parameters: [NS, NAME],
      responses: { "200": ok("The workspace.", ref("Workspace"), etag), ...common("404") },
    },
    patch: {
      operationId: "updateWorkspace",
      summary: "Change a workspace (JSON merge patch)",
      tags: ["Workspaces"],
      parameters: [NS, NAME, IF_MATCH],
      requestBody: body("UpdateRequest", ["application/merge-patch+json", "application/json"]),
      responses: {
        "200": ok("The changed workspace.", ref("Workspace"), etag),
        ...common("403", "404", "409", "412", "429", ...bodyErrors),
      },
    },
    delete: {
      operationId: "deleteWorkspace",
      summary: "Delete a workspace (its volume is kept unless deleteVolume=true)",
      tags: ["Workspaces"],
      parameters: [NS, NAME, DELETE_VOLUME, IF_MATCH],
      responses: { "204": { description: "Deleted." }, ...common("403", "404", "412") },
    },
  },
};

const action = (verb: string, summary: string, schema = ref("Workspace")): Record<string, Operation> => ({
  post: {
    operationId: `${verb}Workspace`,
    summary,
    tags: ["Workspaces"],
    parameters: [NS, NAME],
    responses: {
      "202": ok("Accepted: follow Location (or the status stream) to see it happen.", schema, {
        ...etag,
        ...location,
      }),
      ...common("403", "404", "409", ...(verb === "start" ? ["429"] : [])),
    },
  },
});

const actionRoutes: Record<string, Record<string, Operation>> = {
  [`${API_PREFIX}/workspaces/{ns}/{name}/start`]: action("start", "Start a stopped workspace"),
  [`${API_PREFIX}/workspaces/{ns}/{name}/stop`]: action("stop", "Stop a workspace (the volume stays)"),
  [`${API_PREFIX}/workspaces/{ns}/{name}/sync`]: action(
    "sync",
    "Fetch the repository upstream and merge it, keeping every local change",
    ref("SyncResult"),
  ),
  // Issue 15: the keep-alive (docs/lifecycle.md).
  [`${API_PREFIX}/workspaces/{ns}/{name}/keepalive`]: {
    post: {
      operationId: "keepAliveWorkspace",
      summary: "Keep a workspace from its idle stop for a while (0s cancels)",
      tags: ["Workspaces"],
      parameters: [NS, NAME],
      requestBody: body("KeepAliveRequest"),
      responses: {
        "200": ok("The workspace, keepAliveUntil set (absent after 0s).", ref("Workspace"), etag),
        ...common("403", "404", "422", ...bodyErrors),
      },
    },
  },
  [`${API_PREFIX}/workspaces/{ns}/{name}/logs`]: {
    get: {
      operationId: "workspaceLogs",
      summary: "The IDE container's last log lines",
      tags: ["Workspaces"],
      parameters: [
        NS,
        NAME,
        param(
          "lines",
          "query",
          { type: "integer", minimum: 1, maximum: 5000, default: 100 },
          "How many lines.",
          200,
        ),
      ],
      responses: {
        "200": { description: "The lines.", content: { "text/plain": { schema: text } } },
        ...common("403", "404", "409", "503"),
      },
    },
  },
  [`${API_PREFIX}/workspaces/{ns}/{name}/events`]: {
    get: {
      operationId: "workspaceEvents",
      summary: "The workspace's status as server-sent events",
      tags: ["Status streams"],
      parameters: [NS, NAME],
      "x-portico-surface": "status",
      responses: {
        "200": {
          description: "A stream of `status` events.",
          content: { "text/event-stream": { schema: ref("StatusEvent") } },
        },
        "401": err("401"),
        "403": err("403"),
        "429": err("429rate"),
      },
    },
  },
};

/** A GraphQL-over-HTTP answer, in either media type the spec allows. */
const graphqlAnswer = (description: string): Schema => ({
  description,
  content: {
    "application/graphql-response+json": { schema: ref("GraphqlResponse") },
    "application/json": { schema: ref("GraphqlResponse") },
  },
});

const otherRoutes: Record<string, Record<string, Operation>> = {
  [`${API_PREFIX}/classes`]: {
    get: {
      operationId: "listClasses",
      summary: "The classes (IDE options) a user may pick, with their defaults and bounds",
      tags: ["Classes"],
      responses: { "200": ok("The classes.", ref("ClassList")), ...common() },
    },
  },
  [`${API_PREFIX}/provision`]: {
    post: {
      operationId: "provision",
      summary: "The caller's workspace for a repository on the git server: the existing one, or a new one",
      description:
        "The REST twin of GraphQL's provisionCodeServer. The git server is asked first, with the caller's own " +
        "token, whether the caller may read the repository. An existing workspace is started if stopped.",
      tags: ["Provisioning"],
      requestBody: body("ProvisionRequest"),
      responses: {
        "201": ok("A new workspace.", ref("ProvisionResult"), { ...etag, ...location }),
        "200": ok("The caller's existing workspace for the repository.", ref("ProvisionResult"), {
          ...etag,
          ...location,
        }),
        ...common("403", "404", "429", "503", ...bodyErrors),
      },
    },
  },
  [`${API_PREFIX}/stats`]: {
    get: {
      operationId: "stats",
      summary: "Counts over every workspace (admins only)",
      tags: ["Admin"],
      responses: { "200": ok("The counts.", ref("Stats")), ...common("403") },
    },
  },
  [`${API_PREFIX}/openapi.json`]: {
    get: {
      operationId: "openapi",
      summary: "This document",
      tags: ["Meta"],
      responses: { "200": ok("The OpenAPI 3.1 document.", { type: "object" }), ...common() },
    },
  },
  "/graphql": {
    post: {
      operationId: "graphql",
      summary: "GraphQL (the provisioning service's schema; see the GraphQL section)",
      tags: ["GraphQL"],
      "x-portico-surface": "graphql",
      requestBody: {
        required: true,
        content: json({
          type: "object",
          required: ["query"],
          properties: { query: text, variables: { type: "object" }, operationName: text },
        }),
      },
      description:
        "Served by graphql-http (GraphQL over HTTP). Every refusal is a GraphQL error with " +
        "`extensions.code`, the proxy's origin check (403) and other methods than POST (405) excepted, " +
        "which have the API's error shape; batches " +
        "(a JSON array) are refused: one operation per request, within the depth and cost limits.",
      responses: {
        "200": graphqlAnswer("The operation ran: data, and errors of the fields that failed."),
        "400": graphqlAnswer(
          "Not a GraphQL request, or a query refused before it ran (parse, validation, limits).",
        ),
        "401": graphqlAnswer("No identity (`UNAUTHENTICATED`)."),
        "403": {
          description: "`cross_origin`: the proxy's origin check refused a page of another origin.",
          content: json(ref("Error")),
        },
        "405": {
          description: "`method_not_allowed`: not POST (queries and mutations alike run over POST only).",
          content: json(ref("Error")),
        },
        "406": graphqlAnswer("An Accept the server cannot answer."),
        "413": graphqlAnswer("The body is larger than --api-max-body-bytes (`PAYLOAD_TOO_LARGE`)."),
        "415": graphqlAnswer("Not `application/json` (`UNSUPPORTED_MEDIA_TYPE`)."),
      },
    },
  },
};

const seedRoutes: Record<string, Record<string, Operation>> = {
  [`${API_PREFIX}/analysis`]: {
    get: {
      operationId: "getAnalysis",
      summary: "The caller's active IDE: their most recently created workspace that is running",
      tags: ["Seed-compatible"],
      responses: { "200": ok("The active IDE.", ref("Workspace"), etag), ...common("404") },
    },
    post: {
      operationId: "createAnalysis",
      summary:
        "The caller's IDE of a class: created when they have none of it, else theirs (started if stopped)",
      tags: ["Seed-compatible"],
      requestBody: body("AnalysisRequest"),
      responses: {
        "201": ok("Created.", ref("Workspace"), { ...etag, ...location }),
        "200": ok("The caller's existing IDE of that class.", ref("Workspace"), { ...etag, ...location }),
        ...common("403", "404", "409", "429", ...bodyErrors),
      },
    },
    delete: {
      operationId: "deleteAnalysis",
      summary: "Delete the caller's active IDE (its volume is kept unless deleteVolume=true)",
      tags: ["Seed-compatible"],
      parameters: [DELETE_VOLUME],
      responses: { "204": { description: "Deleted." }, ...common("404") },
    },
  },
  [`${API_PREFIX}/analysis/options`]: {
    get: {
      operationId: "analysisOptions",
      summary: "The IDE options (the classes), as GET /api/v1/classes",
      tags: ["Seed-compatible"],
      responses: { "200": ok("The classes.", ref("ClassList")), ...common() },
    },
  },
  [`${API_PREFIX}/analysis/events/{ide}`]: {
    get: {
      operationId: "analysisEvents",
      summary: "The status stream of the oldest workspace of class {ide} in --compat-namespace",
      tags: ["Seed-compatible", "Status streams"],
      "x-portico-surface": "status",
      parameters: [
        param("ide", "path", ref("DnsLabel"), "The class."),
        param("owner", "query", ref("UserName"), "Only workspaces of this owner."),
      ],
      responses: {
        "200": {
          description: "A stream of `status` events.",
          content: { "text/event-stream": { schema: ref("StatusEvent") } },
        },
        "401": err("401"),
        "403": err("403"),
        "404": err("404"),
        "429": err("429rate"),
      },
    },
  },
};

const errorResponse = (code: string): Schema => {
  const matching = Object.entries(ERROR_CATALOGUE).filter(([, [s]]) => String(s) === code);
  return {
    description: matching.map(([c, [, when]]) => `\`${c}\`: ${when}`).join(" "),
    content: json(code === "429" ? { anyOf: [ref("LimitError"), ref("Error")] } : ref("Error")),
  };
};

const STATUSES = ["400", "401", "403", "404", "405", "409", "412", "413", "415", "422", "429", "500", "503"];

/** The document. Frozen: the router, the validator and the docs read it; nothing writes it. */
export const OPENAPI: Readonly<Schema> = deepFreeze({
  openapi: "3.1.0",
  info: {
    title: "Portico self-service API",
    version: "v1",
    description:
      "Workspaces for the caller, without kubectl: the proxy writes Workspace objects as its own " +
      "ServiceAccount with the owner taken from the caller's verified identity (a bearer token or the " +
      "session cookie), never from the request. docs/api.md is generated from this document.",
  },
  jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
  servers: [{ url: "/" }],
  tags: [
    { name: "Workspaces", description: "The caller's workspaces." },
    { name: "Classes", description: "What a user may pick." },
    { name: "Admin", description: "For holders of an --admin-roles role." },
    { name: "Provisioning", description: "A workspace for a repository on the git server, in one call." },
    {
      name: "Seed-compatible",
      description: "The paths of the system Portico replaces: one active IDE per user.",
    },
    { name: "Status streams", description: "Server-sent events, served by the proxy's status surface." },
    { name: "GraphQL", description: "The provisioning service's GraphQL schema." },
    { name: "Meta", description: "This document." },
  ],
  security: [{ bearer: [] }, { cookie: [] }],
  paths: { ...workspaceRoutes, ...actionRoutes, ...seedRoutes, ...otherRoutes },
  components: {
    schemas: { ...requestSchemas, ...responseSchemas },
    responses: {
      ...Object.fromEntries(STATUSES.map((s) => [s, errorResponse(s)])),
      "429rate": {
        description: "`rate_limited`: too many requests or open streams; Retry-After says when to retry.",
        content: json(ref("Error")),
      },
    },
    securitySchemes: {
      bearer: {
        type: "http",
        scheme: "bearer",
        bearerFormat: "JWT",
        description: "An access token of the OpenID provider.",
      },
      cookie: {
        type: "apiKey",
        in: "cookie",
        name: "portico_session",
        description: "The browser's session (after /__portico/auth/login); the name is --session-cookie.",
      },
    },
  },
});

/** An operation with where it lives, for the router and the docs. */
export interface Route {
  method: string;
  /** The path template as written here: `/api/v1/workspaces/{ns}/{name}`. */
  path: string;
  op: Operation;
}

/** Every operation of the document, in the document's order. */
export function routes(doc: Readonly<Schema> = OPENAPI): Route[] {
  const out: Route[] = [];
  for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, Operation>>))
    for (const [method, op] of Object.entries(item)) out.push({ method: method.toUpperCase(), path, op });
  return out;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object" && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
