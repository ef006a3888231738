/**
 * The console's shell: the header with the views (the Admin tab only once GET /api/v1/stats said
 * yes), one status line (aria-live) every view announces to, and the routed view. It owns the tab's
 * one /ws/watch socket and the workspace store the views share.
 */
import { html, nothing } from "lit";
import { WATCH_PATH } from "../../protocol.ts";
import { api } from "../lib/api.ts";
import { hrefOf, parseRoute, type Route } from "../lib/route.ts";
import { socketUrl } from "../lib/socket.ts";
import { WorkspaceStore } from "../lib/store.ts";
import { WatchClient, type ConnState } from "../lib/watch-client.ts";
import { LightElement } from "./base.ts";
import "./admin.ts";
import "./delete-dialog.ts";
import "./detail.ts";
import "./list.ts";
import "./new.ts";

const CONN_TEXT: Record<ConnState, string> = {
  open: "live",
  connecting: "connecting…",
  offline: "offline (polling)",
};

export class ConsoleApp extends LightElement {
  private route: Route = parseRoute(location.hash);
  private admin = false;
  private conn: ConnState = "offline";
  private status = "";
  private readonly watch: WatchClient;
  private readonly store: WorkspaceStore;
  private readonly onHash = () => this.navigate();
  private readonly onAnnounce = (e: Event) => (
    (this.status = String((e as CustomEvent).detail)),
    this.requestUpdate()
  );

  constructor() {
    super();
    this.watch = new WatchClient({
      connect: () => new WebSocket(socketUrl(location, WATCH_PATH)),
      clock: window,
      random: Math.random,
      onState: (s) => {
        this.conn = s;
        this.store?.connection(s);
        this.requestUpdate();
      },
    });
    this.store = new WorkspaceStore({ watch: this.watch, list: () => api.list(), clock: window });
  }

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener("hashchange", this.onHash);
    window.addEventListener("portico-announce", this.onAnnounce);
    this.store.start();
    this.watch.start();
    // Admins only: the API answers 403 to anyone else, and then the tab stays hidden.
    api.stats().then(
      () => ((this.admin = true), this.requestUpdate()),
      () => undefined,
    );
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.removeEventListener("hashchange", this.onHash);
    window.removeEventListener("portico-announce", this.onAnnounce);
    this.store.stop();
    this.watch.stop();
  }

  private navigate(): void {
    this.route = parseRoute(location.hash);
    this.requestUpdate();
    // A new view: focus its heading, so keyboard and screen-reader users start at the top of it.
    void this.updateComplete.then(async () => {
      await new Promise((r) => requestAnimationFrame(r)); // the view's own first render
      const h1 = this.querySelector<HTMLElement>("main h1");
      h1?.setAttribute("tabindex", "-1");
      h1?.focus();
    });
  }

  private view() {
    const r = this.route;
    switch (r.view) {
      case "new":
        return html`<pc-new-workspace .store=${this.store}></pc-new-workspace>`;
      case "admin":
        return this.admin
          ? html`<pc-admin></pc-admin>`
          : html`<p class="muted">The admin view is for admins.</p>`;
      case "detail":
        return html`<pc-workspace-detail
          .store=${this.store}
          .watch=${this.watch}
          .route=${r}
        ></pc-workspace-detail>`;
      default:
        return html`<pc-workspaces .store=${this.store}></pc-workspaces>`;
    }
  }

  override render() {
    const tab = (to: Route, label: string) => {
      const current = this.route.view === to.view || (to.view === "list" && this.route.view === "detail");
      return html`<a href=${hrefOf(to)} aria-current=${current ? "page" : nothing}>${label}</a>`;
    };
    return html`<a
        class="skip"
        href="#main"
        @click=${(e: Event) => (e.preventDefault(), this.querySelector<HTMLElement>("main")?.focus())}
        >Skip to content</a
      >
      <header class="top">
        <span class="brand">Portico</span>
        <nav aria-label="Views">
          ${tab({ view: "list" }, "My workspaces")} ${tab({ view: "new" }, "New")}
          ${this.admin ? tab({ view: "admin" }, "Admin") : nothing}
        </nav>
        <span class="conn conn-${this.conn}" title="Live updates (/ws/watch)">${CONN_TEXT[this.conn]}</span>
      </header>
      <p class="status" role="status" aria-live="polite">${this.status}</p>
      <main id="main" tabindex="-1">${this.view()}</main>
      <pc-delete-dialog .store=${this.store}></pc-delete-dialog>`;
  }
}

customElements.define("portico-console", ConsoleApp);
