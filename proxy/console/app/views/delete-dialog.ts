/**
 * The delete confirmation: a modal <dialog> (focus moves into it and stays, Escape cancels), with
 * "delete my files" unticked by default: the volume is kept unless the user asks.
 */
import { html } from "lit";
import { api, ApiError } from "../lib/api.ts";
import type { WorkspaceStore } from "../lib/store.ts";
import type { Workspace } from "../lib/workspace.ts";
import { announce, LightElement } from "./base.ts";

export class DeleteDialog extends LightElement {
  static override properties = { store: { attribute: false } };
  declare store: WorkspaceStore;
  private target: Workspace | undefined;
  private error = "";

  ask(w: Workspace): void {
    this.target = w;
    this.error = "";
    this.requestUpdate();
    void this.updateComplete.then(() => {
      const box = this.querySelector<HTMLInputElement>("#delete-files");
      if (box) box.checked = false;
      this.querySelector<HTMLDialogElement>("dialog")?.showModal();
    });
  }

  private close(): void {
    this.querySelector<HTMLDialogElement>("dialog")?.close();
  }

  private async confirm(e: Event): Promise<void> {
    e.preventDefault();
    const w = this.target;
    if (!w) return;
    const files = this.querySelector<HTMLInputElement>("#delete-files")?.checked ?? false;
    try {
      await api.remove(w.namespace, w.name, files);
      this.close();
      announce(`${w.name} deleted${files ? " with its files" : "; its files are kept"}`);
      if (location.hash.startsWith("#/w/")) location.hash = "#/";
      await this.store.refresh();
    } catch (err) {
      this.error = err instanceof ApiError ? err.message : String(err);
      this.requestUpdate();
    }
  }

  override render() {
    const w = this.target;
    return html`<dialog aria-labelledby="delete-title" @close=${() => (this.target = undefined)}>
      <form method="dialog" @submit=${(e: Event) => this.confirm(e)}>
        <h2 id="delete-title">Delete ${w?.name ?? ""}?</h2>
        <p>The workspace is removed. Its files stay on their volume unless you tick the box.</p>
        <label class="check"
          ><input type="checkbox" id="delete-files" name="deleteVolume" /> Delete my files too</label
        >
        ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : ""}
        <div class="actions">
          <button type="button" @click=${() => this.close()}>Cancel</button>
          <button type="submit" class="danger">Delete</button>
        </div>
      </form>
    </dialog>`;
  }
}

customElements.define("pc-delete-dialog", DeleteDialog);
