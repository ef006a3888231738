/**
 * The terminal tab: xterm.js over /ws/shell. Keys go as `stdin` frames, the fit addon's size as
 * `resize`; the TTY's bytes come back as binary frames. A dropped connection keeps the buffer, says
 * so in it and offers a reconnect (a new shell: the old process ended with its socket).
 */
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import { html, nothing } from "lit";
import {
  PING_INTERVAL_MS,
  SHELL_PATH,
  type ShellClientFrame,
  type ShellServerFrame,
} from "../../protocol.ts";
import { parseFrame, socketUrl } from "../lib/socket.ts";
import { announce, LightElement } from "./base.ts";

export class TerminalView extends LightElement {
  static override properties = { workspace: { attribute: false } };
  declare workspace: string;
  private term: Terminal | undefined;
  private fit: FitAddon | undefined;
  private ws: WebSocket | undefined;
  private ping: number | undefined;
  private resizeObserver: ResizeObserver | undefined;
  private state: "connecting" | "ready" | "lost" | "ended" = "connecting";

  override firstUpdated(): void {
    const box = this.querySelector<HTMLElement>(".terminal")!;
    const term = new Terminal({ cursorBlink: true, convertEol: false, fontSize: 14, scrollback: 5000 });
    const fit = new FitAddon();
    // The size the remote TTY is told, as `stty size` prints it (rows cols): for tests and the curious.
    const sized = () => (box.dataset.size = `${term.rows} ${term.cols}`);
    term.loadAddon(fit);
    term.open(box);
    fit.fit();
    sized();
    term.onData((data) => this.send({ type: "stdin", data }));
    term.onResize(({ cols, rows }) => {
      sized();
      this.send({ type: "resize", cols, rows });
    });
    this.resizeObserver = new ResizeObserver(() => fit.fit());
    this.resizeObserver.observe(box);
    this.term = term;
    this.fit = fit;
    this.connect();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.resizeObserver?.disconnect();
    window.clearInterval(this.ping);
    const ws = this.ws;
    this.ws = undefined;
    ws?.close(1000); // closing the tab's view ends the remote process
    this.term?.dispose();
  }

  private send(f: ShellClientFrame): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(f));
  }

  private setState(s: TerminalView["state"], say?: string): void {
    this.state = s;
    if (say) announce(say);
    this.requestUpdate();
  }

  private connect(): void {
    const term = this.term!;
    const ws = new WebSocket(
      socketUrl(location, SHELL_PATH, new URLSearchParams({ workspace: this.workspace })),
    );
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.setState("connecting");
    ws.onopen = () => {
      this.fit?.fit();
      this.send({ type: "resize", cols: term.cols, rows: term.rows });
      this.ping = window.setInterval(() => this.send({ type: "ping" }), PING_INTERVAL_MS);
      term.focus();
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (ev.data instanceof ArrayBuffer) return term.write(new Uint8Array(ev.data));
      const f = parseFrame<ShellServerFrame>(ev.data);
      if (f?.type === "ready") this.setState("ready", `Terminal connected to ${f.pod}`);
      else if (f?.type === "exit") {
        term.write(`\r\n\x1b[2m[the shell exited: ${f.message || f.code}]\x1b[0m\r\n`);
        this.setState("ended", "The shell exited");
      } else if (f?.type === "error") term.write(`\r\n\x1b[31m[${f.message}]\x1b[0m\r\n`);
    };
    ws.onclose = (ev: CloseEvent) => {
      window.clearInterval(this.ping);
      if (this.ws !== ws) return;
      this.ws = undefined;
      if (this.state === "ended") return;
      const why = ev.reason ? `: ${ev.reason}` : "";
      term.write(`\r\n\x1b[33m[connection lost${why}; the buffer above is kept]\x1b[0m\r\n`);
      this.setState("lost", "Terminal connection lost");
    };
  }

  override render() {
    return html`<div class="term-bar">
        <span role="status" aria-live="polite" data-state=${this.state}
          >${{ connecting: "Connecting…", ready: "Connected", lost: "Connection lost", ended: "Shell exited" }[this.state]}</span
        >
        ${
          this.state === "lost" || this.state === "ended"
            ? html`<button type="button" @click=${() => this.connect()}>Reconnect</button>`
            : nothing
        }
      </div>
      <div class="terminal" aria-label="Terminal of ${this.workspace}"></div>`;
  }
}

customElements.define("pc-terminal", TerminalView);
