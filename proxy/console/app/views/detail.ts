/**
 * Workspace detail: its state and actions, then one of three tabs — the events as a timeline with
 * its pods (watch channels `events` and `pods`, filtered to its namespace), the logs, a terminal.
 */
import { html, nothing } from "lit";
import type { EventItem, PodItem } from "../../protocol.ts";
import { hrefOf, type Route } from "../lib/route.ts";
import type { WorkspaceStore } from "../lib/store.ts";
import type { ConnState, WatchClient } from "../lib/watch-client.ts";
import { actions, ago } from "../lib/workspace.ts";
import { loadClassIdle } from "../lib/classes.ts";
import { idleView } from "./idle.ts";
import { LightElement } from "./base.ts";
import { phaseBadge, runAction, stepsView } from "./list.ts";
import "./logs.ts";

type Detail = Extract<Route, { view: "detail" }>;

export class WorkspaceDetail extends LightElement {
  static override properties = {
    store: { attribute: false },
    watch: { attribute: false },
    route: { attribute: false },
  };
  declare store: WorkspaceStore;
  declare watch: WatchClient;
  declare route: Detail;
  private events: EventItem[] = [];
  private pods: PodItem[] = [];
  private watchError = "";
  private subscribed = "";
  private offs: (() => void)[] = [];

  override connectedCallback(): void {
    super.connectedCallback();
    this.offs.push(this.store.onChange(() => this.requestUpdate()));
    void loadClassIdle().then(() => this.requestUpdate()); // the idle warning's class settings
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.unsubscribe();
    for (const off of this.offs) off();
    this.offs = [];
  }

  private unsubscribe(): void {
    for (const off of this.subs) off();
    this.subs = [];
  }
  private subs: (() => void)[] = [];

  override willUpdate(): void {
    const key = `${this.route.namespace}/${this.route.name}`;
    if (key === this.subscribed) return;
    this.unsubscribe();
    this.subscribed = key;
    this.events = [];
    this.pods = [];
    const mine = <T extends { workspace: string }>(xs: T[]) =>
      xs.filter((x) => x.workspace === this.route.name);
    const error = (e: { message: string }) => ((this.watchError = e.message), this.requestUpdate());
    this.subs.push(
      this.watch.subscribe<EventItem>("events", this.route.namespace, {
        update: (xs) => (
          (this.events = mine(xs).sort((a, b) => b.time.localeCompare(a.time))),
          this.requestUpdate()
        ),
        error,
      }),
      this.watch.subscribe<PodItem>("pods", this.route.namespace, {
        update: (xs) => ((this.pods = mine(xs)), this.requestUpdate()),
        error,
      }),
    );
  }

  override render() {
    const r = this.route;
    const w = this.store.find(r.namespace, r.name);
    const tab = (t: Detail["tab"], label: string) =>
      html`<a
        role="tab"
        href=${hrefOf({ ...r, tab: t })}
        aria-selected=${r.tab === t ? "true" : "false"}
        aria-current=${r.tab === t ? "page" : nothing}
        >${label}</a
      >`;
    return html`<section aria-labelledby="detail-title">
      <p><a href="#/">← My workspaces</a></p>
      <div class="section-head">
        <h1 id="detail-title">${r.name}</h1>
        ${w ? phaseBadge(w) : nothing}
      </div>
      ${
        w
          ? html`<p class="meta">
                <span>${w.className}</span><span>${w.namespace}</span><span>owner ${w.owner}</span
                ><span>created ${ago(w.createdAt, Date.now())}</span>
              </p>
              ${stepsView(w)} ${w.message ? html`<p class="message">${w.message}</p>` : nothing}
              ${idleView(w, this.store)}
              <div class="actions">
                ${actions(w).includes("open") ? html`<a class="button primary" href=${w.url!} target="_blank" rel="noopener noreferrer">Open</a>` : nothing}
                ${(["start", "stop", "sync"] as const)
                  .filter((a) => actions(w).includes(a))
                  .map(
                    (a) =>
                      html`<button type="button" data-action=${a} @click=${() => runAction(w, a, this.store)}>
                        ${a[0]!.toUpperCase() + a.slice(1)}
                      </button>`,
                  )}
              </div>`
          : html`<p class="muted">
              ${this.store.source === "none" ? "Loading…" : "No such workspace among yours."}
            </p>`
      }
      <nav class="tabs" role="tablist" aria-label="Workspace views">
        ${tab("events", "Events")} ${tab("logs", "Logs")} ${tab("terminal", "Terminal")}
      </nav>
      <div class="tab-panel" role="tabpanel">${this.panel()}</div>
    </section>`;
  }

  private panel() {
    const ws = `${this.route.namespace}/${this.route.name}`;
    if (this.route.tab === "logs") return html`<pc-logs .workspace=${ws}></pc-logs>`;
    if (this.route.tab === "terminal") {
      // xterm.js is most of the bundle: its chunk loads when a terminal is first opened.
      if (!customElements.get("pc-terminal")) void import("./terminal.ts");
      return html`<pc-terminal .workspace=${ws}></pc-terminal>`;
    }
    const live: ConnState = this.watch.state;
    if (live !== "open" && !this.pods.length && !this.events.length)
      return html`<p class="muted">
        Events and pods come live over /ws/watch, which is not connected (${live}).
      </p>`;
    return html`${this.watchError ? html`<p class="error">${this.watchError}</p>` : nothing}
      <h2>Pods</h2>
      ${
        this.pods.length
          ? html`<ul class="pods">
              ${this.pods.map(
                (p) =>
                  html`<li>
                    <strong>${p.name}</strong> ${p.phase}${p.ready ? " · ready" : ""}
                    <ul>
                      ${[...p.initContainers, ...p.containers].map(
                        (c) =>
                          html`<li>
                            ${c.name}:
                            ${c.state}${c.reason ? ` (${c.reason})` : ""}${c.restarts ? ` · ${c.restarts} restarts` : ""}
                          </li>`,
                      )}
                    </ul>
                  </li>`,
              )}
            </ul>`
          : html`<p class="muted">No pod.</p>`
      }
      <h2>Events</h2>
      ${
        this.events.length
          ? html`<ol class="timeline">
              ${this.events.map(
                (e) =>
                  html`<li class="event ${e.type === "Warning" ? "warning" : ""}">
                    <time datetime=${e.time}>${new Date(e.time).toLocaleTimeString()}</time>
                    <span class="reason">${e.reason}</span
                    >${e.count > 1 ? html` <span class="muted">×${e.count}</span>` : nothing}
                    <span class="msg">${e.involved.kind} ${e.involved.name}: ${e.message}</span>
                  </li>`,
              )}
            </ol>`
          : html`<p class="muted">No events.</p>`
      }`;
  }
}

customElements.define("pc-workspace-detail", WorkspaceDetail);
