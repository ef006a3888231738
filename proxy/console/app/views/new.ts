/**
 * New workspace: a form built from GET /api/v1/classes. The API validates; its error's `field`
 * puts the message beside that input (aria-describedby, aria-invalid) and focus moves there.
 */
import { html, nothing } from "lit";
import { api, ApiError } from "../lib/api.ts";
import {
  boundsHint,
  createBody,
  fieldOf,
  initialValues,
  type FormField,
  type FormValues,
  type WorkspaceClass,
} from "../lib/form.ts";
import { hrefOf } from "../lib/route.ts";
import type { WorkspaceStore } from "../lib/store.ts";
import { announce, LightElement } from "./base.ts";

export class NewWorkspace extends LightElement {
  static override properties = { store: { attribute: false } };
  declare store: WorkspaceStore;
  private classes: WorkspaceClass[] | undefined;
  private values: FormValues = initialValues(undefined);
  private errors: Partial<Record<FormField, string>> = {};
  private formError = "";
  private busy = false;

  override connectedCallback(): void {
    super.connectedCallback();
    api.classes().then(
      (cs) => {
        this.classes = cs;
        this.values = initialValues(cs[0]);
        this.requestUpdate();
      },
      (e: unknown) => {
        this.classes = [];
        this.formError = e instanceof Error ? e.message : String(e);
        this.requestUpdate();
      },
    );
  }

  private get cls(): WorkspaceClass | undefined {
    return this.classes?.find((c) => c.name === this.values.className);
  }

  private set(field: keyof FormValues, value: string | boolean): void {
    this.values = { ...this.values, [field]: value };
    if (field === "className") {
      const c = this.classes?.find((x) => x.name === value);
      this.values.storage = initialValues(c).storage;
    }
    delete this.errors[field];
    this.requestUpdate();
  }

  private async submit(e: Event): Promise<void> {
    e.preventDefault();
    if (this.busy) return;
    this.busy = true;
    this.errors = {};
    this.formError = "";
    this.requestUpdate();
    try {
      const w = await api.create(createBody(this.values));
      announce(`${w.name} created`);
      await this.store.refresh();
      location.hash = hrefOf({ view: "list" });
    } catch (err) {
      const msg = err instanceof ApiError ? err.message : String(err);
      const field = err instanceof ApiError ? fieldOf(err.field) : undefined;
      if (field) this.errors = { [field]: msg };
      else this.formError = msg;
      announce(`Not created: ${msg}`);
      await this.updateComplete;
      this.querySelector<HTMLElement>(field ? `#f-${field}` : "#form-error")?.focus();
    } finally {
      this.busy = false;
      this.requestUpdate();
    }
  }

  private fieldError(f: FormField) {
    const e = this.errors[f];
    return e ? html`<p class="field-error" id="e-${f}" data-field=${f}>${e}</p>` : nothing;
  }

  private described(f: FormField, hint?: string): string {
    return [hint ? `h-${f}` : "", this.errors[f] ? `e-${f}` : ""].filter(Boolean).join(" ");
  }

  override render() {
    // One template around both states: the heading (focused on arrival) survives the classes' load.
    return html`<section aria-labelledby="new-title">
      <h1 id="new-title">New workspace</h1>
      ${this.classes ? this.form(this.classes) : html`<p class="muted">Loading the classes…</p>`}
    </section>`;
  }

  private form(classes: WorkspaceClass[]) {
    const v = this.values;
    const hint = boundsHint(this.cls);
    const inv = (f: FormField) => (this.errors[f] ? "true" : "false");
    return html`<form class="form" novalidate @submit=${(e: Event) => this.submit(e)}>
      <div class="field">
        <label for="f-className">Class</label>
        <select
          id="f-className"
          name="className"
          aria-invalid=${inv("className")}
          aria-describedby=${this.described("className", "x")}
          @change=${(e: Event) => this.set("className", (e.target as HTMLSelectElement).value)}
        >
          ${classes.map((c) => html`<option value=${c.name} ?selected=${c.name === v.className}>${c.displayName ?? c.name}</option>`)}
        </select>
        <p class="hint" id="h-className">${this.cls?.description ?? ""}</p>
        ${this.fieldError("className")}
      </div>
      <div class="field">
        <label for="f-name">Name <span class="muted">(optional)</span></label>
        <input
          id="f-name"
          name="name"
          autocomplete="off"
          spellcheck="false"
          .value=${v.name}
          aria-invalid=${inv("name")}
          aria-describedby=${this.described("name", "x")}
          @input=${(e: Event) => this.set("name", (e.target as HTMLInputElement).value)}
        />
        <p class="hint" id="h-name">
          Lower-case letters, digits and dashes; made up from the class when empty.
        </p>
        ${this.fieldError("name")}
      </div>
      <div class="field">
        <label for="f-repository">Repository URL <span class="muted">(optional)</span></label>
        <input
          id="f-repository"
          name="repository"
          type="url"
          inputmode="url"
          autocomplete="off"
          spellcheck="false"
          placeholder="https://git.example.com/you/project.git"
          .value=${v.repository}
          aria-invalid=${inv("repository")}
          aria-describedby=${this.described("repository", "x")}
          @input=${(e: Event) => this.set("repository", (e.target as HTMLInputElement).value)}
        />
        <p class="hint" id="h-repository">Cloned before the IDE starts.</p>
        ${this.fieldError("repository")}
      </div>
      <div class="field">
        <label for="f-storage">Storage</label>
        <input
          id="f-storage"
          name="storage"
          autocomplete="off"
          spellcheck="false"
          .value=${v.storage}
          aria-invalid=${inv("storage")}
          aria-describedby=${this.described("storage", hint)}
          @input=${(e: Event) => this.set("storage", (e.target as HTMLInputElement).value)}
        />
        ${hint ? html`<p class="hint" id="h-storage">${hint}</p>` : nothing} ${this.fieldError("storage")}
      </div>
      <div class="field">
        <label class="check"
          ><input
            id="f-running"
            name="running"
            type="checkbox"
            .checked=${v.running}
            @change=${(e: Event) => this.set("running", (e.target as HTMLInputElement).checked)}
          />
          Start it now</label
        >
        ${this.fieldError("running")}
      </div>
      ${this.formError ? html`<p class="error" id="form-error" role="alert" tabindex="-1">${this.formError}</p>` : nothing}
      <div class="actions">
        <button type="submit" class="primary" ?disabled=${this.busy || classes.length === 0}>
          ${this.busy ? "Creating…" : "Create"}
        </button>
        <a class="button" href=${hrefOf({ view: "list" })}>Cancel</a>
      </div>
    </form>`;
  }
}

customElements.define("pc-new-workspace", NewWorkspace);
