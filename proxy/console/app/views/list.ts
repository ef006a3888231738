/** My workspaces: each with its phase, progress steps, URL, last activity and actions. */
import { html, nothing, type TemplateResult } from "lit";
import { api, ApiError } from "../lib/api.ts";
import { hrefOf } from "../lib/route.ts";
import type { WorkspaceStore } from "../lib/store.ts";
import {
  actions,
  ago,
  phaseLabel,
  STEP_LABEL,
  steps,
  type Action,
  type Workspace,
} from "../lib/workspace.ts";
import { loadClassIdle } from "../lib/classes.ts";
import { idleView } from "./idle.ts";
import { announce, LightElement } from "./base.ts";

/** The steps of a start, as an ordered list with each step's state. */
export function stepsView(w: Workspace): TemplateResult {
  return html`<ol class="steps" aria-label="progress">
    ${steps(w).map(
      (s) =>
        html`<li class="step ${s.state}" title=${s.message || nothing}>
          <span class="dot" aria-hidden="true"></span>${STEP_LABEL[s.type]}<span class="sr-only"
            >: ${s.state}</span
          >
        </li>`,
    )}
  </ol>`;
}

export const phaseBadge = (w: Workspace) =>
  html`<span
    class="phase phase-${w.phase.toLowerCase()}"
    data-phase=${w.phase}
    ?data-idle-stopped=${!!w.idleStopped}
    >${phaseLabel(w)}</span
  >`;

/** Runs a workspace action from a button; the confirm dialog handles delete. */
export async function runAction(
  w: Workspace,
  a: Exclude<Action, "open" | "delete">,
  store: WorkspaceStore,
): Promise<void> {
  const verb = { start: "Starting", stop: "Stopping", sync: "Syncing" }[a];
  announce(`${verb} ${w.name}…`);
  try {
    await api[a](w.namespace, w.name);
    await store.refresh();
  } catch (e) {
    announce(`${w.name}: ${e instanceof ApiError ? e.message : String(e)}`);
  }
}

export class WorkspaceList extends LightElement {
  static override properties = { store: { attribute: false }, admin: { type: Boolean } };
  declare store: WorkspaceStore;
  declare admin: boolean;
  private off: (() => void) | undefined;
  private tick: number | undefined;

  override connectedCallback(): void {
    super.connectedCallback();
    this.off = this.store.onChange(() => this.requestUpdate());
    this.tick = window.setInterval(() => this.requestUpdate(), 30_000); // "5 min ago" moves on
    void loadClassIdle().then(() => this.requestUpdate()); // the idle warning's class settings
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.off?.();
    window.clearInterval(this.tick);
  }

  override render() {
    const items = this.store.items;
    return html`<section aria-labelledby="list-title">
      <div class="section-head">
        <h1 id="list-title">My workspaces</h1>
        <a class="button primary" href=${hrefOf({ view: "new" })}>New workspace</a>
      </div>
      ${this.store.error ? html`<p class="error" role="alert">${this.store.error}</p>` : nothing}
      ${
        this.store.source === "none"
          ? html`<p class="muted">Loading…</p>`
          : items.length === 0
            ? html`<p class="muted">No workspaces yet. <a href=${hrefOf({ view: "new" })}>Create one</a>.</p>`
            : html`<ul class="cards">
                ${items.map((w) => this.card(w))}
              </ul>`
      }
    </section>`;
  }

  private card(w: Workspace) {
    const detail = hrefOf({ view: "detail", namespace: w.namespace, name: w.name, tab: "events" });
    const can = actions(w);
    return html`<li class="card" data-workspace="${w.namespace}/${w.name}">
      <div class="card-head">
        <h2><a href=${detail}>${w.name}</a></h2>
        ${phaseBadge(w)}
      </div>
      <p class="meta">
        <span>${w.className}</span><span>${w.namespace}</span>
        ${w.lastActivity ? html`<span>active ${ago(w.lastActivity, Date.now())}</span>` : html`<span>created ${ago(w.createdAt, Date.now())}</span>`}
      </p>
      ${stepsView(w)}
      ${w.message && w.phase !== "Running" ? html`<p class="message">${w.message}</p>` : nothing}
      ${idleView(w, this.store)}
      ${w.url ? html`<p class="url"><span class="sr-only">URL: </span>${w.url}</p>` : nothing}
      <div class="actions">
        ${
          can.includes("open")
            ? html`<a class="button primary" href=${w.url!} target="_blank" rel="noopener noreferrer"
                >Open<span class="sr-only"> ${w.name}</span></a
              >`
            : nothing
        }
        ${(["start", "stop", "sync"] as const)
          .filter((a) => can.includes(a))
          .map(
            (a) =>
              html`<button type="button" data-action=${a} @click=${() => runAction(w, a, this.store)}>
                ${label(a)}<span class="sr-only"> ${w.name}</span>
              </button>`,
          )}
        <button type="button" class="danger" data-action="delete" @click=${() => this.askDelete(w)}>
          Delete<span class="sr-only"> ${w.name}</span>
        </button>
      </div>
    </li>`;
  }

  private askDelete(w: Workspace): void {
    const dialog = document.querySelector("pc-delete-dialog") as
      (HTMLElement & { ask(w: Workspace): void }) | null;
    dialog?.ask(w);
  }
}

const label = (a: "start" | "stop" | "sync") => ({ start: "Start", stop: "Stop", sync: "Sync" })[a];

customElements.define("pc-workspaces", WorkspaceList);
