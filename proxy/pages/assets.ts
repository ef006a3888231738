/**
 * The workspace pages' one stylesheet and one script, served by the proxy at reserved paths under
 * every workspace prefix (`{prefix}/__portico/page.css`, `{prefix}/__portico/page.js`), so the pages
 * run under a CSP with `script-src 'self'` and `style-src 'self'`: no inline script or style, no
 * nonce to mint per response, and the browser caches both once per origin.
 *
 * Kept as strings here (not files beside the module) so `npm run build` carries them into dist/
 * with the rest. The script only ever writes text (`textContent`, attributes): whatever a workspace
 * name, message or condition says, it never becomes markup.
 *
 * The look follows the console's: system fonts, one accent, the same step colours (pending grey,
 * active blue, done green, failed red), light and dark by the user's preference.
 */
import { createHash } from "node:crypto";

export const PAGE_CSS = `:root{--bg:#f7f7f8;--fg:#1d1d1f;--muted:#5f6368;--card:#fff;--line:#dadce0;
--accent:#1a62d6;--ok:#1e7d34;--bad:#c5221f;--wait:#80868b;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#151618;--fg:#e8eaed;--muted:#9aa0a6;--card:#202124;
--line:#3c4043;--accent:#8ab4f8;--ok:#81c995;--bad:#f28b82;--wait:#9aa0a6}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header{padding:.75rem 1.25rem;border-bottom:1px solid var(--line);background:var(--card)}
header a{color:var(--fg);font-weight:600;text-decoration:none}
main{max-width:40rem;margin:2rem auto;padding:0 1rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:1.25rem 1.5rem}
h1{font-size:1.3rem;margin:0 0 .25rem;overflow-wrap:anywhere}
.phase{display:inline-block;font-size:.8rem;font-weight:600;padding:.1rem .6rem;border-radius:99px;border:1px solid currentColor}
.phase[data-phase=Failed]{color:var(--bad)}.phase[data-phase=Running]{color:var(--ok)}
.phase[data-phase=Stopped],.phase[data-phase=Stopping]{color:var(--wait)}
.phase:not([data-phase=Failed]):not([data-phase=Running]):not([data-phase=Stopped]):not([data-phase=Stopping]){color:var(--accent)}
ol.steps{list-style:none;margin:1rem 0;padding:0}
ol.steps li{display:grid;grid-template-columns:1.5rem 1fr auto;gap:.5rem;padding:.45rem 0;border-top:1px solid var(--line)}
ol.steps li:first-child{border-top:0}
.mark{width:1rem;height:1rem;margin-top:.2rem;border-radius:50%;border:2px solid var(--wait)}
li[data-state=active] .mark{border-color:var(--accent);border-right-color:transparent;animation:spin 1s linear infinite}
li[data-state=done] .mark{background:var(--ok);border-color:var(--ok)}
li[data-state=failed] .mark{background:var(--bad);border-color:var(--bad)}
li[data-state=skipped]{color:var(--muted)}li[data-state=skipped] .mark{border-style:dashed}
@media (prefers-reduced-motion:reduce){li[data-state=active] .mark{animation:none}}
@keyframes spin{to{transform:rotate(360deg)}}
.label{font-weight:600}.detail{display:block;color:var(--muted);font-size:.85rem;overflow-wrap:anywhere}
.elapsed{color:var(--muted);font-variant-numeric:tabular-nums}
.message{overflow-wrap:anywhere}.muted{color:var(--muted)}
.actions{display:flex;gap:.75rem;align-items:center;flex-wrap:wrap;margin-top:1rem}
button{font:inherit;font-weight:600;padding:.5rem 1.25rem;border-radius:6px;border:0;background:var(--accent);color:var(--card);cursor:pointer}
button:disabled{opacity:.6;cursor:default}
button:focus-visible,a:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
a{color:var(--accent)}
.error{color:var(--bad)}
[hidden]{display:none!important}
`;

/**
 * The page's behaviour. Reads its settings from data-* attributes of <body>; follows the status
 * stream while the workspace starts; POSTs the start on the Start button; reloads once the proxy
 * can route to the IDE (the IDE then loads in place, as it always did).
 */
export const PAGE_JS = `"use strict";
(() => {
  const body = document.body;
  const $ = (id) => document.getElementById(id);
  const status = $("status");
  // When this page first saw each step active or done: the status has no time for some boundaries
  // (the clone's end), and a page that watched them fill them in with its own clock.
  const seen = {};
  let steps = [];
  let source;

  const say = (text) => { if (status.textContent !== text) status.textContent = text; };
  const fmt = (ms) => {
    const s = Math.max(0, Math.round(ms / 1000));
    return s < 60 ? s + " s" : Math.floor(s / 60) + " min " + (s % 60) + " s";
  };
  const time = (iso) => (iso ? Date.parse(iso) : NaN);

  function elapsedOf(step) {
    const mark = seen[step.key] || {};
    const start = Number.isFinite(time(step.startedAt)) ? time(step.startedAt) : mark.active;
    if (start === undefined) return "";
    if (step.state === "active") return fmt(Date.now() - start);
    if (step.state === "done" || step.state === "failed") {
      const end = Number.isFinite(time(step.endedAt)) ? time(step.endedAt) : mark.ended;
      return end === undefined ? "" : fmt(end - start);
    }
    return "";
  }

  function render() {
    for (const step of steps) {
      const li = document.querySelector('li[data-key="' + step.key + '"]');
      if (!li) continue;
      li.dataset.state = step.state;
      if (step.state === "active") li.setAttribute("aria-current", "step");
      else li.removeAttribute("aria-current");
      li.querySelector(".state").textContent = step.state;
      li.querySelector(".detail").textContent = step.detail || "";
      li.querySelector(".elapsed").textContent = elapsedOf(step);
    }
  }

  function apply(s) {
    const now = Date.now();
    for (const step of s.steps || []) {
      const mark = (seen[step.key] = seen[step.key] || {});
      if (step.state === "active" && mark.active === undefined) mark.active = now;
      if ((step.state === "done" || step.state === "failed") && mark.active !== undefined && mark.ended === undefined)
        mark.ended = now;
    }
    steps = s.steps || [];
    const phase = $("phase");
    phase.textContent = s.phase;
    phase.dataset.phase = s.phase;
    // The message usually is the active step's detail already: said once.
    $("message").textContent = steps.some((x) => x.detail === s.message) ? "" : s.message;
    render();
    const active = steps.find((x) => x.state === "active");
    const failed = steps.find((x) => x.state === "failed");
    if (s.routable) {
      say("Ready: opening the workspace.");
      source.close();
      location.reload();
    } else if (failed || s.phase === "Failed") {
      say("Failed" + (failed ? " at " + failed.label : "") + ": " + (s.message || ""));
      $("logs").hidden = false;
    } else if (s.phase === "Stopped") {
      say("The workspace is stopped.");
    } else if (active) {
      say(active.label + "…");
    }
  }

  function follow() {
    body.dataset.state = "starting";
    $("steps").hidden = false;
    $("stopped").hidden = true;
    source = new EventSource(body.dataset.events);
    source.addEventListener("status", (e) => apply(JSON.parse(e.data)));
    source.addEventListener("deleted", () => {
      source.close();
      $("phase").textContent = "Deleted";
      say("The workspace was deleted.");
    });
  }

  async function start(button) {
    button.disabled = true;
    $("start-error").textContent = "";
    say("Starting…");
    try {
      const res = await fetch(body.dataset.start, {
        method: "POST",
        credentials: "same-origin",
        headers: { accept: "application/json" },
      });
      if (res.status === 202 || res.status === 200) return follow();
      let message = "HTTP " + res.status;
      try { message = (await res.json()).message || message; } catch {}
      $("start-error").textContent = message;
      say("Could not start: " + message);
    } catch (err) {
      $("start-error").textContent = String(err);
    }
    button.disabled = false;
  }

  const button = $("start");
  if (button) button.addEventListener("click", () => start(button));
  // A failed workspace is followed too: once someone fixes the cause, the page opens it.
  if (body.dataset.state !== "stopped") follow();
  setInterval(render, 1000);
})();
`;

/** A short content hash for the asset URLs: a changed asset is a new URL, so caches never serve a stale one. */
export const ASSET_VERSION = createHash("sha256").update(PAGE_JS).update(PAGE_CSS).digest("hex").slice(0, 12);
