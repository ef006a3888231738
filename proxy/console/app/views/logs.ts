/** The logs tab: one line per message, coloured by level, following the bottom unless scrolled up. */
import { html } from "lit";
import { LogsClient } from "../lib/logs-client.ts";
import { appendCapped, atBottom, type LogLine } from "../lib/log-lines.ts";
import { LightElement } from "./base.ts";

export class LogsView extends LightElement {
  static override properties = { workspace: { attribute: false } };
  declare workspace: string;
  private lines: LogLine[] = [];
  private status = "";
  private client: LogsClient | undefined;
  private follow = true;

  override connectedCallback(): void {
    super.connectedCallback();
    this.client = new LogsClient(
      { connect: (url) => new WebSocket(url), clock: window, random: Math.random, location },
      this.workspace,
      {
        lines: (ls) => {
          const box = this.querySelector(".log");
          this.follow = !box || atBottom(box.scrollTop, box.clientHeight, box.scrollHeight);
          this.lines = appendCapped(this.lines, ls);
          this.requestUpdate();
        },
        status: (text) => ((this.status = text), this.requestUpdate()),
      },
    );
    this.client.start();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.client?.stop();
  }

  override updated(): void {
    const box = this.querySelector(".log");
    if (box && this.follow) box.scrollTop = box.scrollHeight;
  }

  override render() {
    return html`<p class="muted" role="status" aria-live="polite">${this.status}</p>
      <div class="log" tabindex="0" role="log" aria-label="Log of ${this.workspace}">
        ${this.lines.map((l) => html`<div class="line ${l.level}">${l.text}</div>`)}
      </div>`;
  }
}

customElements.define("pc-logs", LogsView);
