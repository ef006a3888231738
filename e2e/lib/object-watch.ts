/**
 * One object watched through the API server for a test, every version recorded with the time it
 * arrived, so a test waits on a state (`until`) and asserts over everything that happened
 * (`history`, `holds`) instead of sampling with GETs or sleeping.
 *
 *   const w = await watchObject<Workspace>(c, `/apis/portico.dev/v1alpha1/namespaces/${ns}/workspaces`, "nb");
 *   await w.until("idle-stopped", (ws) => condition(ws, "Idle")?.reason === "IdleTimeout", 180_000);
 *   await w.holds("still running", (ws) => ws.status?.phase === "Running", deadline);
 *   w.stop();
 */
import * as k8s from "@kubernetes/client-node";
import type { Clients } from "./kube.ts";

export interface Seen<T> {
  /** When this version arrived (ms since the epoch, this process's clock). */
  at: number;
  type: "ADDED" | "MODIFIED" | "DELETED";
  obj: T;
}

export interface ObjectWatch<T> {
  /** Every version seen, oldest first. */
  readonly history: readonly Seen<T>[];
  /** The newest version; undefined before the first one or once the object is deleted. */
  latest(): T | undefined;
  /** Resolves with the first version (the current one included) for which `pred` holds; rejects after `timeoutMs`. */
  until(
    what: string,
    pred: (obj: T | undefined, e?: Seen<T>) => boolean,
    timeoutMs: number,
  ): Promise<T | undefined>;
  /**
   * Resolves at `untilMs` when `pred` held for the current version and every version that arrived
   * meanwhile; rejects at the first one for which it does not.
   */
  holds(what: string, pred: (obj: T | undefined) => boolean, untilMs: number): Promise<void>;
  stop(): void;
}

/** Watches the object `name` in the collection at `path`; resolves once the watch is established. */
export async function watchObject<T extends { metadata?: { name?: string } }>(
  c: Clients,
  path: string,
  name: string,
): Promise<ObjectWatch<T>> {
  const history: Seen<T>[] = [];
  const listeners = new Set<() => void>();
  let current: T | undefined;
  let stopped = false;
  let controller: AbortController | undefined;
  const watch = new k8s.Watch(c.kc);
  const notify = () => listeners.forEach((l) => l());

  const start = async (): Promise<void> => {
    controller = await watch.watch(
      path,
      { fieldSelector: `metadata.name=${name}` },
      (type: string, obj: T) => {
        if (type !== "ADDED" && type !== "MODIFIED" && type !== "DELETED") return; // BOOKMARK, ERROR
        history.push({ at: Date.now(), type, obj });
        current = type === "DELETED" ? undefined : obj;
        notify();
      },
      // The API server ends watches after a while: start again (from a fresh list) until stopped.
      () => void (stopped ? undefined : start().catch(() => setTimeout(() => void start(), 1000))),
    );
  };
  await start();

  const until: ObjectWatch<T>["until"] = (what, pred, timeoutMs) =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (!pred(current, history.at(-1))) return false;
        done();
        resolve(current);
        return true;
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `${name}: ${what}: not within ${timeoutMs / 1000} s; last seen: ${JSON.stringify(current ?? null)}`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });

  const holds: ObjectWatch<T>["holds"] = (what, pred, untilMs) =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (pred(current)) return;
        done();
        reject(
          new Error(
            `${name}: ${what}: broken at ${new Date().toISOString()}: ${JSON.stringify(current ?? null)}`,
          ),
        );
      };
      const timer = setTimeout(
        () => {
          done();
          resolve();
        },
        Math.max(0, untilMs - Date.now()),
      );
      const done = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });

  return {
    history,
    latest: () => current,
    until,
    holds,
    stop: () => {
      stopped = true;
      controller?.abort();
    },
  };
}
