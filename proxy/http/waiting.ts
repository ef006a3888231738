/**
 * The waiting page: what a browser gets instead of a 502 while its workspace starts. It follows the
 * workspace's status stream (served under the same prefix, so the same origin) and reloads once the
 * proxy can route to the IDE. Non-browsers get 503 JSON with Retry-After instead.
 */

/** Reserved path under every workspace prefix: the workspace's status stream. */
export const EVENTS_SUFFIX = "/__portico/events";

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** The HTML page for workspace `namespace/name`, whose events are at `eventsPath`. */
export function waitingPage(namespace: string, name: string, message: string, eventsPath: string): string {
  const title = `${escapeHtml(namespace)}/${escapeHtml(name)}`;
  // JSON.stringify makes a safe JS string; `<` is escaped so no `</script>` can close the tag.
  const events = JSON.stringify(eventsPath).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Starting ${title}</title>
<style>body{font:16px system-ui,sans-serif;margin:4rem auto;max-width:36rem;color:#222}
#phase{font-weight:600}small{color:#666}</style></head>
<body><h1>Starting ${title}</h1>
<p>Phase: <span id="phase">Starting</span></p><p id="message">${escapeHtml(message)}</p>
<small>This page follows the workspace and opens it as soon as it is ready.</small>
<script>
const es = new EventSource(${events});
es.addEventListener("status", (e) => {
  const s = JSON.parse(e.data);
  document.getElementById("phase").textContent = s.phase;
  document.getElementById("message").textContent = s.message;
  if (s.routable) { es.close(); location.reload(); }
});
es.addEventListener("deleted", () => { es.close(); document.getElementById("phase").textContent = "Deleted"; });
</script></body></html>
`;
}
