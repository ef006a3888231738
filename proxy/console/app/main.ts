/**
 * The console's entry point (bundled by scripts/build-console.ts).
 *
 * The CSP allows no inline style, but xterm.js creates <style> elements (its DOM renderer's sizes
 * and colours). The server puts a per-response nonce in <meta name="portico-style-nonce"> and the
 * CSP's style-src; style elements created from this bundle carry it, while markup injected as HTML
 * (the parser does not call createElement) still cannot style the page.
 */
import "@xterm/xterm/css/xterm.css";
import "./styles.css";
import "./views/app.ts";

const nonce = document.querySelector<HTMLMetaElement>('meta[name="portico-style-nonce"]')?.content;
if (nonce) {
  const create = document.createElement.bind(document) as (
    tag: string,
    options?: ElementCreationOptions,
  ) => HTMLElement;
  document.createElement = ((tag: string, options?: ElementCreationOptions) => {
    const el = create(tag, options);
    if (tag.toLowerCase() === "style") el.nonce = nonce;
    return el;
  }) as typeof document.createElement;
}
