/**
 * Lifecycle (issue 15) in the list and detail views: the warning before an idle stop with its
 * "Keep alive" button and a duration capped by the class's maxKeepAlive (POST …/keepalive), and the
 * keep-alive's end when one is set.
 */
import { html, nothing, type TemplateResult } from "lit";
import { api, ApiError } from "../lib/api.ts";
import { classIdle } from "../lib/classes.ts";
import type { WorkspaceStore } from "../lib/store.ts";
import { clock, idleWarning, keepAliveChoices, type Workspace } from "../lib/workspace.ts";
import { announce } from "./base.ts";

async function keepAlive(w: Workspace, duration: string, store: WorkspaceStore): Promise<void> {
  announce(`Keeping ${w.name} alive for ${duration}…`);
  try {
    const kept = await api.keepAlive(w.namespace, w.name, duration);
    await store.refresh();
    announce(`${w.name} is kept alive until ${clock(kept.keepAliveUntil)}.`);
  } catch (e) {
    announce(`${w.name}: ${e instanceof ApiError ? e.message : String(e)}`);
  }
}

/** The idle warning and the keep-alive's end of `w` (nothing when neither applies). */
export function idleView(w: Workspace, store: WorkspaceStore, now = Date.now()): TemplateResult {
  const idle = classIdle(w.className);
  const warning = idleWarning(w, idle, now);
  const keptUntil = w.keepAliveUntil && Date.parse(w.keepAliveUntil) > now ? w.keepAliveUntil : undefined;
  const kept = keptUntil
    ? html`<p class="meta kept" data-keep-alive-until=${keptUntil}>Kept alive until ${clock(keptUntil)}</p>`
    : nothing;
  if (!warning) return html`${kept}`;
  const choices = keepAliveChoices(idle?.maxKeepAlive);
  const id = `keep-${w.namespace}-${w.name}`;
  const when = warning.stopsAt ? `at ${clock(warning.stopsAt)}` : "soon";
  const press = (e: Event) => {
    const select = (e.target as HTMLElement).closest(".idle-warning")?.querySelector("select");
    void keepAlive(w, select?.value ?? choices[0] ?? "1h", store);
  };
  return html`${kept}
    <div class="idle-warning" role="status" data-idle-warning>
      <p>Stops for idleness ${when}: no activity seen lately.</p>
      <label for=${id}>Keep alive for</label>
      <select id=${id}>
        ${choices.map((d) => html`<option value=${d} ?selected=${d === "1h"}>${d}</option>`)}
      </select>
      <button type="button" data-action="keepalive" @click=${press}>
        Keep alive<span class="sr-only"> ${w.name}</span>
      </button>
    </div>`;
}
