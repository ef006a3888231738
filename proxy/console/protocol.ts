/**
 * The console's wire protocol: what the browser app (proxy/console/app/) and the proxy's console
 * endpoints (proxy/console/*.ts, served by proxy/surfaces/console.ts) say to each other over the
 * three WebSockets. Types and constants only — no Node or DOM import — so both sides compile it.
 *
 * Every text frame is one JSON object with a `type`. A frame the receiver cannot parse, or with a
 * type or field it does not know, gets an `error` frame back (code `bad_frame`) and the connection
 * stays open; a client that keeps sending bad frames or floods is closed with 1008 (policy).
 */

/** Paths on the base domain (never a workspace host). */
export const WATCH_PATH = "/ws/watch";
export const LOGS_PATH = "/ws/logs";
export const SHELL_PATH = "/ws/shell";

/** How often the server sends a WebSocket ping, and the client an application `ping`. */
export const PING_INTERVAL_MS = 30_000;
/** A client that hears no `pong` this long after its `ping` reconnects. */
export const PONG_TIMEOUT_MS = 10_000;
/** Reconnect backoff of the browser: from the first to the cap, doubling, with jitter. */
export const RECONNECT_FIRST_MS = 500;
export const RECONNECT_MAX_MS = 15_000;

/** Close codes the server uses besides the standard ones. */
export const CLOSE = {
  /** 1008: the client broke the protocol (flood, too many bad frames, too many subscriptions). */
  policy: 1008,
  /** 1011: the server failed (the cluster could not be asked). */
  serverError: 1011,
  /** 1001: the server is going away (shutdown): reconnect. */
  goingAway: 1001,
  /** 4403: what the connection followed is no longer the caller's to see (logs, shell). */
  forbidden: 4403,
  /** 4404: the workspace or pod is gone (logs, shell). */
  gone: 4404,
} as const;

/** An error frame, on any of the three sockets. */
export interface ErrorFrame {
  type: "error";
  /** The subscription it concerns (watch), when one. */
  id?: string;
  /** Machine-readable: bad_frame, unknown_channel, forbidden, not_found, too_many, unavailable … */
  code: string;
  message: string;
}

// ─── /ws/watch: one multiplexed socket per tab ───────────────────────────────────────────────────

export type Channel = "workspaces" | "pods" | "events";
export const CHANNELS: readonly Channel[] = ["workspaces", "pods", "events"];

/** Client → server. */
export type WatchClientFrame =
  | {
      type: "subscribe";
      /** The client's name for the subscription (1–64 chars of [A-Za-z0-9_.-]); echoed on every frame. */
      id: string;
      channel: Channel;
      /** Only objects of this namespace (absent: every namespace the caller may see). */
      namespace?: string;
      /**
       * Resume: the `resourceVersion` of the last frame the client got for this subscription. The
       * server sends only the changes after it (`changes`), or — when it cannot (too old, or it
       * relisted since) — a `snapshot` with `reset: true`.
       */
      resourceVersion?: string;
    }
  | { type: "unsubscribe"; id: string }
  | { type: "ping" };

/** Server → client. */
export type WatchServerFrame =
  | {
      type: "snapshot";
      id: string;
      /** Everything the caller may see on the channel now. */
      items: WatchObject[];
      /** Resume from here. */
      resourceVersion: string;
      /** True when this replaces what the client had (a resume the server could not serve). */
      reset: boolean;
    }
  | {
      type: "changes";
      id: string;
      /** In order; changes that come fast are batched (one frame per ~100 ms at most per subscription). */
      changes: WatchChange[];
      /** Resume from here: the last change's resourceVersion. */
      resourceVersion: string;
    }
  | { type: "pong" }
  | ErrorFrame;

export interface WatchChange {
  /** DELETED also when the object is no longer the caller's to see (sharing withdrawn). */
  op: "ADDED" | "MODIFIED" | "DELETED";
  object: WatchObject;
}

/** What a channel carries: views, never raw objects (no spec env, no managedFields, no secrets). */
export type WatchObject = WorkspaceItem | PodItem | EventItem;

interface ItemMeta {
  namespace: string;
  name: string;
  resourceVersion: string;
}

/** `workspaces`: the self-service API's WorkspaceView (proxy/api/types.ts), tagged. */
export interface WorkspaceItem extends ItemMeta {
  kind: "Workspace";
  /** The API's WorkspaceView fields (owner, phase, status, ready, url, conditions, createdAt …). */
  view: Record<string, unknown>;
}

/** `pods`: the pods of workspaces the caller may see (workspace pods and their sync pods). */
export interface PodItem extends ItemMeta {
  kind: "Pod";
  /** The workspace it belongs to (its portico.dev/workspace label). */
  workspace: string;
  phase: string;
  ready: boolean;
  containers: { name: string; ready: boolean; state: string; reason?: string; restarts: number }[];
  initContainers: { name: string; ready: boolean; state: string; reason?: string; restarts: number }[];
  startedAt?: string;
}

/** `events`: Kubernetes Events about those workspaces and their pods. */
export interface EventItem extends ItemMeta {
  kind: "Event";
  /** The workspace it concerns. */
  workspace: string;
  involved: { kind: string; name: string };
  type: "Normal" | "Warning" | string;
  reason: string;
  message: string;
  count: number;
  /** ISO time of the last occurrence. */
  time: string;
}

// ─── /ws/logs?workspace=ns/name (or ?ns=…&pod=…) [&container=…][&tail=N][&since=ISO] ───────────

/** Server → client (the client sends nothing but `ping`). */
export type LogsServerFrame =
  | {
      type: "line";
      /** The line without its newline. */
      text: string;
      /** The kubelet's timestamp of the line (RFC 3339, nanoseconds): reconnect with `since=` it. */
      time: string;
      /** The line was longer than LOGS_MAX_LINE: `text` is its start, the rest was dropped. */
      truncated?: boolean;
    }
  | {
      type: "status";
      /** following: streaming; waiting: no container log yet (retrying); ended: the container stopped. */
      state: "following" | "waiting" | "ended";
      pod: string;
      container: string;
      message: string;
    }
  | { type: "pong" }
  | ErrorFrame;

export type LogsClientFrame = { type: "ping" };

/** Longest tail a log stream starts with, and the default. */
export const LOGS_MAX_TAIL = 5000;
export const LOGS_DEFAULT_TAIL = 500;
/** Longest line sent (characters); a longer one is cut and flagged `truncated`. */
export const LOGS_MAX_LINE = 16 * 1024;

// ─── /ws/shell?workspace=ns/name (or ?ns=…&pod=…) [&container=…] ──────────────────────────────────

/**
 * Client → server text frames. The terminal's output comes back as binary frames (raw bytes of the
 * TTY, stdout and stderr merged as a TTY does); control comes as text frames (ShellServerFrame).
 */
export type ShellClientFrame =
  { type: "stdin"; data: string } | { type: "resize"; cols: number; rows: number } | { type: "ping" };

export type ShellServerFrame =
  | { type: "ready"; pod: string; container: string }
  /** The remote process ended; the socket closes after this frame. */
  | { type: "exit"; code: number; message: string }
  | { type: "pong" }
  | ErrorFrame;

/** Terminal sizes a resize may ask for; outside them: an error frame, the size unchanged. */
export const SHELL_MAX_COLS = 1000;
export const SHELL_MAX_ROWS = 500;
/** Largest stdin frame (bytes of its data). */
export const SHELL_MAX_STDIN = 64 * 1024;
