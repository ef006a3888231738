import { test } from "node:test";
import assert from "node:assert/strict";
import type { IncomingHttpHeaders } from "node:http";
import { canonicalOrigin, checkOrigin, publicScheme, type OriginContext } from "./origin.ts";

const HOST = "alice--ns.portico.test:8080";
const OWN = `http://${HOST}`;
const SIBLING = "http://bob--ns.portico.test:8080";
const ctx = (over: Partial<OriginContext> = {}): OriginContext => ({
  scheme: "http",
  host: HOST,
  allowListHint: "the class's spec.allowedOrigins",
  ...over,
});

/** [what, method, headers, context changes, refused?] */
const TABLE: [string, string, IncomingHttpHeaders, Partial<OriginContext>, boolean][] = [
  [
    "GET from anywhere (reads are the browser's same-origin policy's job)",
    "GET",
    { origin: SIBLING },
    {},
    false,
  ],
  ["HEAD cross-site", "HEAD", { "sec-fetch-site": "cross-site" }, {}, false],
  ["OPTIONS preflight from another origin", "OPTIONS", { origin: "http://evil.example" }, {}, false],
  ["POST from its own origin", "POST", { origin: OWN, "sec-fetch-site": "same-origin" }, {}, false],
  [
    "POST from its own origin, other case",
    "POST",
    { origin: "HTTP://Alice--NS.portico.test:8080" },
    {},
    false,
  ],
  ["POST, Host in capitals", "POST", { origin: OWN }, { host: "ALICE--ns.portico.test:8080" }, false],
  [
    "POST from its own origin, default port",
    "POST",
    { origin: "http://a.test" },
    { host: "a.test:80" },
    false,
  ],
  [
    "POST over https, default port",
    "POST",
    { origin: "https://a.test" },
    { scheme: "https", host: "a.test" },
    false,
  ],
  ["POST, https page to the http origin", "POST", { origin: "https://a.test" }, { host: "a.test" }, true],
  [
    "POST, http page to the https origin",
    "POST",
    { origin: "http://a.test" },
    { scheme: "https", host: "a.test" },
    true,
  ],
  ["POST, same host, other port", "POST", { origin: "http://alice--ns.portico.test:8081" }, {}, true],
  ["POST, no Origin (not a browser)", "POST", {}, {}, false],
  ["DELETE, no Origin, Sec-Fetch-Site same-origin", "DELETE", { "sec-fetch-site": "same-origin" }, {}, false],
  ["POST, no Origin, Sec-Fetch-Site cross-site", "POST", { "sec-fetch-site": "cross-site" }, {}, true],
  ["POST, no Origin, Sec-Fetch-Site same-site", "POST", { "sec-fetch-site": "same-site" }, {}, true],
  [
    "POST from a sibling workspace (same-site)",
    "POST",
    { origin: SIBLING, "sec-fetch-site": "same-site" },
    {},
    true,
  ],
  ["POST from the base domain", "POST", { origin: "http://portico.test:8080" }, {}, true],
  ["PUT from another site", "PUT", { origin: "http://evil.example" }, {}, true],
  [
    "PATCH from another site",
    "PATCH",
    { origin: "http://evil.example", "sec-fetch-site": "cross-site" },
    {},
    true,
  ],
  ["POST, Origin null", "POST", { origin: "null" }, {}, true],
  ["POST, Origin null, cross-site", "POST", { origin: "null", "sec-fetch-site": "cross-site" }, {}, true],
  [
    "POST, Origin null, same-origin form",
    "POST",
    { origin: "null", "sec-fetch-site": "same-origin" },
    {},
    false,
  ],
  ["POST, own Origin but cross-site", "POST", { origin: OWN, "sec-fetch-site": "cross-site" }, {}, true],
  ["POST, Origin with a path", "POST", { origin: `${OWN}/x` }, {}, true],
  ["POST, Origin with userinfo", "POST", { origin: `http://x@${HOST}` }, {}, true],
  ["POST, Origin not http(s)", "POST", { origin: "file://" }, {}, true],
  ["POST, Origin garbage", "POST", { origin: "%%%" }, {}, true],
  ["POST, empty Origin", "POST", { origin: "" }, {}, false],
  ["POST, suffix trick", "POST", { origin: `${OWN}.evil.example` }, {}, true],
  [
    "POST, allow-listed origin, cross-site",
    "POST",
    { origin: "https://portal.example.com", "sec-fetch-site": "cross-site" },
    { allowed: ["https://portal.example.com"] },
    false,
  ],
  [
    "POST, allow-list compared exactly",
    "POST",
    { origin: "https://portal.example.com:8443" },
    { allowed: ["https://portal.example.com"] },
    true,
  ],
  [
    "POST, allow-listed default port",
    "POST",
    { origin: "https://portal.example.com" },
    { allowed: ["https://portal.example.com:443"] },
    false,
  ],
  ["POST, allow-list does not admit null", "POST", { origin: "null" }, { allowed: ["null"] }, true],
  ["WebSocket from its own origin", "GET", { origin: OWN }, { upgrade: true }, false],
  ["WebSocket, no Origin (not a browser)", "GET", {}, { upgrade: true }, false],
  [
    "WebSocket from a sibling workspace",
    "GET",
    { origin: SIBLING, "sec-fetch-site": "same-site" },
    { upgrade: true },
    true,
  ],
  ["WebSocket from another site", "GET", { origin: "http://evil.example" }, { upgrade: true }, true],
  ["WebSocket, Origin null", "GET", { origin: "null" }, { upgrade: true }, true],
  [
    "WebSocket, path mode: the base origin is its own",
    "GET",
    { origin: "http://portico.test:8080" },
    { upgrade: true, host: "portico.test:8080" },
    false,
  ],
  [
    "WebSocket, IPv6 host",
    "GET",
    { origin: "http://[::1]:8080" },
    { upgrade: true, host: "[::1]:8080" },
    false,
  ],
];

for (const [what, method, headers, over, refused] of TABLE)
  test(`checkOrigin: ${what} → ${refused ? "403" : "passes"}`, () => {
    const r = checkOrigin(method, headers, ctx(over));
    if (!refused) return assert.equal(r, undefined, JSON.stringify(r));
    assert.equal(r?.status, 403);
    assert.equal(r.body.error, "cross_origin");
    assert.match(r.body.message, /allowedOrigins/, "says where to allow an origin");
  });

test("the refusal names the route's own origin and the sender", () => {
  const r = checkOrigin("POST", { origin: SIBLING }, ctx());
  assert.match(r!.body.message, /POST request from origin "http:\/\/bob--ns\.portico\.test:8080"/);
  assert.match(r!.body.message, /only pages of http:\/\/alice--ns\.portico\.test:8080 itself/);
  assert.match(checkOrigin("GET", { origin: "null" }, ctx({ upgrade: true }))!.body.message, /^a WebSocket/);
});

test("canonicalOrigin: serialized http(s) origins only", () => {
  assert.equal(canonicalOrigin("HTTPS://Example.COM:443"), "https://example.com");
  assert.equal(canonicalOrigin("http://example.com:8080"), "http://example.com:8080");
  assert.equal(canonicalOrigin("http://example.com/"), undefined);
  assert.equal(canonicalOrigin("ftp://example.com"), undefined);
  assert.equal(canonicalOrigin("null"), undefined);
  assert.equal(canonicalOrigin("http://"), undefined);
});

test("publicScheme: trusted X-Forwarded-Proto, else the public URL's, else http", () => {
  const xf = { "x-forwarded-proto": "https, http" };
  assert.equal(publicScheme(xf, true, undefined), "https");
  assert.equal(publicScheme(xf, false, undefined), "http", "untrusted X-Forwarded-Proto is ignored");
  assert.equal(publicScheme({ "x-forwarded-proto": "gopher" }, true, "https://p.example"), "https");
  assert.equal(publicScheme({}, false, "https://p.example"), "https");
  assert.equal(publicScheme({ "x-forwarded-proto": "http" }, true, "https://p.example"), "http");
  assert.equal(publicScheme({}, false, "http://p.example"), "http");
});
