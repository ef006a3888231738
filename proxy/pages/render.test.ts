import { test } from "node:test";
import assert from "node:assert/strict";
import { elapsedOf, pageCsp, renderPage, type PageModel } from "./render.ts";
import { stepsOf } from "./steps.ts";

const model = (over: Partial<PageModel> = {}): PageModel => ({
  kind: "starting",
  namespace: "ns",
  name: "a",
  owner: "alice",
  phase: "Starting",
  message: "Cloning the repository.",
  prefix: "/w/ns/a",
  consoleUrl: "/",
  steps: stepsOf({
    phase: "Starting",
    routable: false,
    repository: true,
    conditions: [
      { type: "Reconciling", status: "True", reason: "Starting", message: "", since: "2026-12-05T10:00:00Z" },
      { type: "StorageReady", status: "True", reason: "Bound", message: "", since: "2026-12-05T10:00:04Z" },
      { type: "PodReady", status: "False", reason: "Starting", message: "Cloning the repository." },
    ],
  }),
  canStart: false,
  now: new Date("2026-12-05T10:00:10Z"),
  ...over,
});

test("the waiting page lists the steps with their state and elapsed time, and a live status", () => {
  const html = renderPage(model());
  assert.match(html, /<li data-key="storage" data-state="done">[\s\S]*?<span class="elapsed">4 s<\/span>/);
  assert.match(html, /<li data-key="clone" data-state="active" aria-current="step">[\s\S]*?6 s</);
  assert.match(html, /<li data-key="pod" data-state="pending">/);
  assert.match(html, /role="status" aria-live="polite">Clone the repository…</);
  assert.match(html, /data-events="\/w\/ns\/a\/__portico\/events"/);
  assert.match(html, /data-start="\/w\/ns\/a\/__portico\/start"/);
  assert.doesNotMatch(html, /<script>|<style>| style=| on[a-z]+=/, "no inline script, style or handler");
  assert.match(html, /<script src="\/w\/ns\/a\/__portico\/page\.js\?v=[0-9a-f]{12}" defer><\/script>/);
  assert.match(html, /<link rel="stylesheet" href="\/w\/ns\/a\/__portico\/page\.css\?v=[0-9a-f]{12}">/);
});

test("stopped: Start for those who may start it, the owner's name for the others", () => {
  const stopped = { kind: "stopped" as const, phase: "Stopped" };
  const owner = renderPage(model({ ...stopped, canStart: true }));
  assert.match(owner, /<button id="start" type="button">Start<\/button>/);
  assert.match(owner, /<ol id="steps"[^>]* hidden>/, "the steps show once it starts");
  const sharee = renderPage(model({ ...stopped, canStart: false }));
  assert.doesNotMatch(sharee, /id="start"/);
  assert.match(sharee, /ask <strong>alice<\/strong>/);
});

test("failed: the message and a link to the workspace's logs in the console", () => {
  const html = renderPage(
    model({
      kind: "failed",
      phase: "Failed",
      message: "image not found",
      consoleUrl: "http://portico.test/",
    }),
  );
  assert.match(html, /<a id="logs" href="http:\/\/portico\.test\/#\/w\/ns\/a">/);
  assert.match(html, /Failed: image not found/);
});

test("whatever a name, owner, message or condition says, it stays text", () => {
  const evil = `"><img src=x onerror=alert(1)><script>alert(2)</script>`;
  const html = renderPage(
    model({
      kind: "stopped",
      name: evil,
      owner: evil,
      message: evil,
      phase: evil,
      steps: model().steps.map((s) => ({ ...s, detail: evil })),
    }),
  );
  assert.doesNotMatch(html, /<img|<script>alert|onerror=alert\(1\)>/);
  assert.match(html, /&quot;&gt;&lt;img src=x onerror=alert\(1\)&gt;/);
});

test("the CSP allows the proxy's own script, style, stream and nothing inline", () => {
  const csp = pageCsp("'self'");
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.match(csp, /frame-ancestors 'self'/);
});

test("elapsed: running from startedAt while active, startedAt to endedAt once done, nothing unknown", () => {
  const now = new Date("2026-12-05T10:02:05Z");
  const at = { key: "pod" as const, label: "", detail: "", startedAt: "2026-12-05T10:00:00Z" };
  assert.equal(elapsedOf({ ...at, state: "active" }, now), "2 min 5 s");
  assert.equal(elapsedOf({ ...at, state: "done", endedAt: "2026-12-05T10:00:30Z" }, now), "30 s");
  assert.equal(elapsedOf({ ...at, state: "done" }, now), "");
  assert.equal(elapsedOf({ key: "pod", label: "", detail: "", state: "active" }, now), "");
});

// --- Wake (issue 15)
test("an idle-stopped page says when and why, escaped; a sharee is told only the owner can start it", () => {
  const idle = {
    since: "2026-12-05T14:02:31Z",
    message: "no activity since 13:32: proxy 13:32, ide <13:30>",
  };
  const owner = renderPage(model({ kind: "stopped", phase: "Stopped", canStart: true, idle }));
  assert.match(
    owner,
    /<p id="idle">Stopped for idleness at 2026-12-05 14:02 UTC: no activity since 13:32: proxy 13:32, ide &lt;13:30&gt;\.<\/p>/,
  );
  assert.match(owner, /The workspace is stopped for idleness\./);
  assert.match(owner, /<button id="start"/);
  const sharee = renderPage(model({ kind: "stopped", phase: "Stopped", canStart: false, idle }));
  assert.match(sharee, /Stopped for idleness at/);
  assert.match(sharee, /Only its owner can start it: ask <strong>alice<\/strong>/);
  assert.doesNotMatch(sharee, /<button id="start"/);
  const plain = renderPage(model({ kind: "stopped", phase: "Stopped", canStart: true }));
  assert.doesNotMatch(plain, /idleness/);
});

test("a wake the service refused shows its reason where Start's errors go", () => {
  const html = renderPage(
    model({
      kind: "stopped",
      phase: "Stopped",
      canStart: true,
      startError: "Portico allows 2 running <workspaces>",
    }),
  );
  assert.match(
    html,
    /id="start-error" class="error" role="alert">Portico allows 2 running &lt;workspaces&gt;</,
  );
});
