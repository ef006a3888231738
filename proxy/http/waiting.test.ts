import { test } from "node:test";
import assert from "node:assert/strict";
import { waitingPage } from "./waiting.ts";

test("the waiting page follows the status stream and escapes what it shows", () => {
  const html = waitingPage("ns", "a<b>", "pulling <img>", "/w/ns/a/__portico/events</script>");
  assert.match(html, /new EventSource\("\/w\/ns\/a\/__portico\/events\\u003c\/script>"\)/);
  assert.match(html, /Starting ns\/a&lt;b&gt;/);
  assert.match(html, /pulling &lt;img&gt;/);
  assert.match(html, /location\.reload\(\)/);
});
