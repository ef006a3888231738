/**
 * The pages a browser meets on a workspace URL while the IDE cannot answer: starting (the steps with
 * their elapsed time, following the status stream), stopped (a Start button for those who may start
 * it, "ask the owner" for the others), failed (the message and a link to the workspace's logs in the
 * console). One template, server-rendered, pure: every value that comes from a workspace (its name,
 * owner, message, condition text) is HTML-escaped here, and the page's script (assets.ts) only sets
 * text, so none of it can become markup.
 *
 * The page has no inline script or style: its CSP (`pageCsp`) allows scripts and styles from its own
 * origin only, and the two it loads are the proxy's own, at reserved paths under the prefix.
 */
import { ASSET_VERSION } from "./assets.ts";
import type { Step } from "./steps.ts";

/** Reserved paths under every workspace prefix, served by the proxy, never by the IDE. */
export const EVENTS_SUFFIX = "/__portico/events";
export const START_SUFFIX = "/__portico/start";
export const SCRIPT_SUFFIX = "/__portico/page.js";
export const STYLE_SUFFIX = "/__portico/page.css";

export const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** The CSP of the pages: nothing but the proxy's own script, stylesheet, stream and start endpoint. */
export function pageCsp(frameAncestors: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "img-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    `frame-ancestors ${frameAncestors}`,
  ].join("; ");
}

export type PageKind = "starting" | "stopped" | "failed";

export interface PageModel {
  kind: PageKind;
  namespace: string;
  name: string;
  owner: string;
  phase: string;
  message: string;
  /** The public prefix ("" in host mode). */
  prefix: string;
  /** The console's root, e.g. `http://portico.example/` (host mode) or `/` (path mode). */
  consoleUrl: string;
  /** The steps now (all pending when stopped). */
  steps: readonly Step[];
  /** The caller may start it (policy.ts mayManage) and the API is served. */
  canStart: boolean;
  /** For the elapsed times the server renders (the script keeps them current). */
  now: Date;
  /** Wake (issue 15): stopped for idleness — the `Idle` condition's time and message (docs/lifecycle.md). */
  idle?: { since?: string; message: string };
  /** Wake: why the visit could not wake it (the running limit…), shown where Start's errors go. */
  startError?: string;
}

/** `2026-12-05T14:02:00Z` → `2026-12-05 14:02 UTC` (the page is server-rendered: no local time zone). */
export const fmtTime = (iso: string): string => {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? new Date(t).toISOString().slice(0, 16).replace("T", " ") + " UTC" : "";
};

/** The stopped page's sentence about an idle stop. */
function idleLine(m: PageModel): string {
  if (!m.idle) return "";
  const at = m.idle.since ? fmtTime(m.idle.since) : "";
  const msg = m.idle.message ? `: ${escapeHtml(m.idle.message)}` : "";
  return `<p id="idle">Stopped for idleness${at ? ` at ${at}` : ""}${msg}.</p>`;
}

const fmtElapsed = (ms: number): string => {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
};

/** The elapsed time of a step as the server can tell it, or "". */
export function elapsedOf(step: Step, now: Date): string {
  if (!step.startedAt) return "";
  const start = Date.parse(step.startedAt);
  if (step.state === "active") return fmtElapsed(now.getTime() - start);
  if ((step.state === "done" || step.state === "failed") && step.endedAt)
    return fmtElapsed(Date.parse(step.endedAt) - start);
  return "";
}

function stepItem(step: Step, now: Date): string {
  const current = step.state === "active" ? ' aria-current="step"' : "";
  return `<li data-key="${step.key}" data-state="${step.state}"${current}><span class="mark" aria-hidden="true"></span>
<span><span class="label">${escapeHtml(step.label)}</span> <span class="state muted">${step.state}</span>
<span class="detail">${escapeHtml(step.detail)}</span></span><span class="elapsed">${elapsedOf(step, now)}</span></li>`;
}

/** The stopped section: Start for those who may, the owner's name for the others. */
function stoppedSection(m: PageModel): string {
  const hidden = m.kind === "stopped" ? "" : " hidden";
  const error = escapeHtml(m.startError ?? "");
  const action = m.canStart
    ? `<button id="start" type="button">Start</button><span id="start-error" class="error" role="alert">${error}</span>`
    : `<p>Only its owner can start it: ask <strong>${escapeHtml(m.owner)}</strong>.</p><span id="start-error" hidden></span>`;
  return `<section id="stopped"${hidden}>${idleLine(m)}<p>Its files are kept${m.canStart ? ": start it to carry on where you left off" : ""}.</p>
<div class="actions">${action}</div></section>`;
}

/** The HTML page for `m`. */
export function renderPage(m: PageModel): string {
  const ws = `${escapeHtml(m.namespace)}/${escapeHtml(m.name)}`;
  const title = { starting: "Starting", stopped: "Stopped", failed: "Failed" }[m.kind];
  const logs = `${m.consoleUrl}#/w/${encodeURIComponent(m.namespace)}/${encodeURIComponent(m.name)}`;
  const asset = (suffix: string) => escapeHtml(`${m.prefix}${suffix}?v=${ASSET_VERSION}`);
  const initial =
    m.kind === "starting"
      ? `${m.steps.find((s) => s.state === "active")?.label ?? "Starting"}…`
      : m.kind === "stopped"
        ? m.idle
          ? "The workspace is stopped for idleness."
          : "The workspace is stopped."
        : `Failed: ${escapeHtml(m.message)}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} ${ws} · Portico</title>
<link rel="stylesheet" href="${asset(STYLE_SUFFIX)}">
<script src="${asset(SCRIPT_SUFFIX)}" defer></script></head>
<body data-state="${m.kind}" data-events="${escapeHtml(m.prefix + EVENTS_SUFFIX)}" data-start="${escapeHtml(m.prefix + START_SUFFIX)}">
<header><a href="${escapeHtml(m.consoleUrl)}">Portico</a></header>
<main><div class="card">
<h1>${ws}</h1>
<p><span id="phase" class="phase" data-phase="${escapeHtml(m.phase)}">${escapeHtml(m.phase)}</span></p>
<p id="status" role="status" aria-live="polite">${initial}</p>
<ol id="steps" class="steps" aria-label="Steps"${m.kind === "stopped" ? " hidden" : ""}>
${m.steps.map((s) => stepItem(s, m.now)).join("\n")}
</ol>
<p id="message" class="message muted">${m.kind !== "starting" || m.steps.some((s) => s.detail === m.message) ? "" : escapeHtml(m.message)}</p>
${stoppedSection(m)}
<div class="actions"><a href="${escapeHtml(m.consoleUrl)}">Open the console</a>
<a id="logs" href="${escapeHtml(logs)}"${m.kind === "failed" ? "" : " hidden"}>Logs and events in the console</a></div>
<noscript><p>This page follows the workspace with a script; reload it to see where it is.</p></noscript>
</div></main></body></html>
`;
}
