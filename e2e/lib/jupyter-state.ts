/**
 * What a Jupyter workspace holds, read straight from its pod IP (never through the proxy), so an
 * attack test can prove that nothing reached it: the kernels (id, open connections, last activity),
 * the sessions, and the files at the top of its volume.
 *
 *   const j = await jupyterAt(c, ns, "nb", "/w/ns/nb");   // the IDE's base path ("" in host mode)
 *   const before = await j.state();
 *   ... attack ...
 *   assert.deepEqual(await j.state(), before);
 */
import { WebSocket } from "ws";
import type { Clients } from "./kube.ts";
import { eventually } from "./kube.ts";

export interface JupyterState {
  kernels: { id: string; connections: number; last_activity: string }[];
  sessions: string[];
  files: string[];
}

export interface JupyterDirect {
  /** `http://{podIP}:{port}{basePath}` */
  base: string;
  state(): Promise<JupyterState>;
  /** Starts a kernel directly (not through the proxy) and waits until it is idle; its id. */
  startKernel(): Promise<string>;
  /** Deletes a kernel directly. */
  deleteKernel(id: string): Promise<void>;
}

/** The Jupyter of workspace `name` at its pod IP (pod `ws-{name}`, port 8888). */
export async function jupyterAt(
  c: Clients,
  namespace: string,
  name: string,
  basePath: string,
): Promise<JupyterDirect> {
  const pod = await c.core.readNamespacedPod({ namespace, name: `ws-${name}` });
  const ip = pod.status?.podIP;
  if (!ip) throw new Error(`pod ws-${name} has no IP`);
  const base = `http://${ip}:8888${basePath}`;
  const json = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${base}${path}`);
    if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
    return (await res.json()) as T;
  };
  const state = async (): Promise<JupyterState> => {
    const kernels = await json<{ id: string; connections: number; last_activity: string }[]>("/api/kernels");
    const sessions = await json<{ id: string }[]>("/api/sessions");
    const files = await json<{ content: { name: string }[] }>("/api/contents/");
    return {
      kernels: kernels
        .map((k) => ({ id: k.id, connections: k.connections, last_activity: k.last_activity }))
        .sort((a, b) => a.id.localeCompare(b.id)),
      sessions: sessions.map((s) => s.id).sort(),
      files: files.content.map((f) => f.name).sort(),
    };
  };
  return {
    base,
    state,
    async startKernel() {
      const res = await fetch(`${base}/api/kernels`, { method: "POST", body: "{}" });
      if (res.status !== 201) throw new Error(`POST kernels at the pod: ${res.status}`);
      const { id } = (await res.json()) as { id: string };
      // A kernel says nothing until asked: kernel_info round trips (straight to the pod) bring it to
      // idle, so its last activity stays put from then on. Repeated while the server still says
      // "starting": its activity watcher may join the kernel's iopub after the first answer.
      const channels = `${base.replace(/^http/, "ws")}/api/kernels/${id}/channels?session_id=setup`;
      let last = "";
      await eventually(
        `kernel ${id} idle with no connection`,
        async () => {
          const k = await json<{ execution_state: string; connections: number }>(`/api/kernels/${id}`);
          last = JSON.stringify(k);
          if (k.execution_state === "idle" && k.connections === 0) return true;
          if (k.execution_state === "starting" && k.connections === 0) await kernelInfo(channels);
          return undefined;
        },
        90_000,
        500,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; last seen ${last}`);
      });
      return id;
    },
    async deleteKernel(id) {
      await fetch(`${base}/api/kernels/${id}`, { method: "DELETE" });
    },
  };
}

/** A Jupyter shell-channel request (messaging protocol 5.3), as a kernel's `channels` WebSocket takes it. */
export function shellRequest(
  type: string,
  content: Record<string, unknown>,
  o: { session?: string; username?: string; msgId?: string } = {},
): object {
  return {
    header: {
      msg_id: o.msgId ?? `m-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`,
      username: o.username ?? "test",
      session: o.session ?? "test",
      msg_type: type,
      version: "5.3",
      date: new Date().toISOString(),
    },
    parent_header: {},
    metadata: {},
    content,
    channel: "shell",
    buffers: [],
  };
}

/** What runs a cell: `code`, not silent, no history, no input. */
export const executeContent = (code: string): Record<string, unknown> => ({
  code,
  silent: false,
  store_history: false,
  user_expressions: {},
  allow_stdin: false,
});

/** Sends kernel_info_request on a kernel's channels and waits for the reply; then closes. */
function kernelInfo(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error("no kernel_info_reply within 60 s"));
    }, 60_000);
    ws.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    ws.once("open", () =>
      ws.send(JSON.stringify(shellRequest("kernel_info_request", {}, { session: "setup" }))),
    );
    ws.on("message", (data) => {
      const msg = JSON.parse(String(data)) as { msg_type?: string; header?: { msg_type?: string } };
      if ((msg.msg_type ?? msg.header?.msg_type) === "kernel_info_reply") {
        clearTimeout(timer);
        ws.close();
        ws.once("close", () => resolve());
      }
    });
  });
}
