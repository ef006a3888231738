/** Admin: every workspace (GET /api/v1/workspaces?all=true) and the stats. Only reached by admins. */
import { html, nothing } from "lit";
import { api, ApiError, type Stats } from "../lib/api.ts";
import { hrefOf } from "../lib/route.ts";
import type { Workspace } from "../lib/workspace.ts";
import { ago } from "../lib/workspace.ts";
import { LightElement } from "./base.ts";
import { phaseBadge } from "./list.ts";

const GiB = 1024 ** 3;

export class AdminView extends LightElement {
  private items: Workspace[] | undefined;
  private stats: Stats | undefined;
  private error = "";

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      [this.items, this.stats] = await Promise.all([api.list(true), api.stats()]);
      this.error = "";
    } catch (e) {
      this.error = e instanceof ApiError ? e.message : String(e);
    }
    this.requestUpdate();
  }

  override render() {
    const s = this.stats;
    return html`<section aria-labelledby="admin-title">
      <div class="section-head">
        <h1 id="admin-title">Admin</h1>
        <button type="button" @click=${() => this.load()}>Refresh</button>
      </div>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${
        s
          ? html`<dl class="stats">
              <div>
                <dt>Workspaces</dt>
                <dd>${s.totalInstances}</dd>
              </div>
              <div>
                <dt>Running</dt>
                <dd>${s.runningInstances}</dd>
              </div>
              <div>
                <dt>Stopped</dt>
                <dd>${s.stoppedInstances}</dd>
              </div>
              <div>
                <dt>Storage asked for</dt>
                <dd>${(s.totalStorageUsed / GiB).toFixed(1)} GiB</dd>
              </div>
            </dl>`
          : nothing
      }
      ${
        this.items
          ? html`<div class="table-wrap">
              <table>
                <caption class="sr-only">
                  Every workspace
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Namespace</th>
                    <th scope="col">Owner</th>
                    <th scope="col">Class</th>
                    <th scope="col">Phase</th>
                    <th scope="col">Created</th>
                  </tr>
                </thead>
                <tbody>
                  ${this.items.map(
                    (w) =>
                      html`<tr>
                        <td>
                          <a
                            href=${hrefOf({ view: "detail", namespace: w.namespace, name: w.name, tab: "events" })}
                            >${w.name}</a
                          >
                        </td>
                        <td>${w.namespace}</td>
                        <td>${w.owner}</td>
                        <td>${w.className}</td>
                        <td>${phaseBadge(w)}</td>
                        <td>${ago(w.createdAt, Date.now())}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>`
          : html`<p class="muted">Loading…</p>`
      }
    </section>`;
  }
}

customElements.define("pc-admin", AdminView);
