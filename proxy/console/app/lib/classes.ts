/**
 * The classes' idle settings (ClassView `idle`: warnBefore, maxKeepAlive), asked once per page load:
 * the idle warning and the keep-alive choices need them; a class the API does not know gets none
 * (the warning then follows the Idle condition alone, the choices the default maximum).
 */
import { api } from "./api.ts";
import type { ClassIdle } from "./workspace.ts";

let known: Map<string, ClassIdle> | undefined;
let asking: Promise<void> | undefined;

export const classIdle = (name: string): ClassIdle | undefined => known?.get(name);

/** Loads the classes once (again after a failure); resolves when they are known. */
export function loadClassIdle(): Promise<void> {
  asking ??= api.classes().then(
    (cs) => void (known = new Map(cs.flatMap((c) => (c.idle ? [[c.name, c.idle] as const] : [])))),
    () => void (asking = undefined),
  );
  return asking;
}
