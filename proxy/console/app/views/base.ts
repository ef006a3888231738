/**
 * Shared bits of the views. They render into the light DOM (no shadow root): one stylesheet from
 * 'self' styles everything, so the CSP needs no inline style, and tests and keyboard users meet
 * plain elements.
 */
import { LitElement } from "lit";

export class LightElement extends LitElement {
  override createRenderRoot(): HTMLElement {
    return this;
  }
}

/** The status line every view writes to (one aria-live region, in the app's header). */
export function announce(text: string): void {
  window.dispatchEvent(new CustomEvent("portico-announce", { detail: text }));
}
