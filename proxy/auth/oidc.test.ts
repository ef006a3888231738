import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_RETURN_TO, RelyingParty, randomToken, safeReturnTo } from "./oidc.ts";

const PUBLIC = "http://portico.test:8080";
const BASE = "portico.test";

test("login secrets are fresh, high-entropy and base64url", () => {
  const a = RelyingParty.secrets();
  const b = RelyingParty.secrets();
  for (const v of [a.state, a.nonce, a.verifier]) assert.match(v, /^[A-Za-z0-9_-]{43,}$/);
  assert.notEqual(a.state, b.state);
  assert.notEqual(a.nonce, b.nonce);
  assert.notEqual(a.verifier, b.verifier);
  assert.match(randomToken(), /^[A-Za-z0-9_-]{43}$/);
});

test("return-to: pages on the public origin and on the base domain's hosts are kept, normalised", () => {
  const ok: [string, string][] = [
    ["/w/ns/a/?x=1", `${PUBLIC}/w/ns/a/?x=1`],
    ["/", `${PUBLIC}/`],
    ["http://a--ns.portico.test:8080/tree", "http://a--ns.portico.test:8080/tree"],
    ["https://portico.test/", "https://portico.test/"],
    ["HTTP://A--NS.PORTICO.TEST:8080/x#y", "http://a--ns.portico.test:8080/x#y"],
    // `http:/x` with an http base is a relative reference (browsers agree): the public origin.
    ["http:/evil.example", `${PUBLIC}/evil.example`],
    // Encoded slashes stay a path on the public origin; never a host.
    ["%2F%2Fevil.example", `${PUBLIC}/%2F%2Fevil.example`],
  ];
  for (const [input, want] of ok) assert.equal(safeReturnTo(input, PUBLIC, BASE), want, input);
});

/**
 * Open-redirect payloads (the `rd` value after the query string's own decoding). Each must end on
 * `/` or on the base domain; most must give exactly `/`.
 */
const OPEN_REDIRECTS: [payload: string, want: "/" | "base"][] = [
  ["/\t/evil.example", "/"], // rd=%2F%09%2Fevil.example: browsers drop the tab
  ["/\n/evil.example", "/"],
  ["/\r\n/evil.example", "/"],
  ["\t//evil.example", "/"],
  ["//evil.example/x", "/"],
  ["///evil.example", "/"],
  ["/\\evil.example", "/"],
  ["\\/evil.example", "/"],
  ["\\\\evil.example", "/"],
  ["/\t\\evil.example", "/"],
  ["https:evil.example", "/"], // another scheme than the base: an absolute URL
  ["https:/evil.example", "/"],
  ["//evil%2eexample", "/"],
  ["//evil%252eexample/", "/"],
  ["http://portico.test.evil.example/", "/"],
  ["http://evilportico.test/", "/"],
  ["http://portico.test@evil.example/", "/"],
  ["http://evil.example\\@portico.test/", "/"],
  ["http://evil.example#@portico.test/", "/"],
  ["http://evil.example?@portico.test/", "/"],
  ["https://portico.test:443@evil.example/", "/"],
  ["http://user:pw@a--ns.portico.test/", "/"],
  ["http://user@portico.test/", "/"],
  ["http://portico.test%E3%80%82evil.example/", "/"], // IDEOGRAPHIC FULL STOP maps to a dot
  ["http://portico\u3002test.evil.example/", "/"],
  ["http://portico.test\uFF0Eevil.example/", "/"], // FULLWIDTH FULL STOP
  ["http://evil.example\u3002portico.test/", "base"], // a real subdomain of the base, once mapped
  ["http://portico.test./", "/"], // the trailing-dot name is another host to the browser
  ["http://127.0.0.1:8080/", "/"],
  ["http://[::1]/", "/"],
  ["javascript:alert(1)", "/"],
  ["JaVaScRiPt:alert(document.domain)", "/"],
  [" javascript:alert(1)", "/"],
  ["java\tscript:alert(1)", "/"],
  ["data:text/html,<script>alert(1)</script>", "/"],
  ["ftp://portico.test/", "/"],
  ["file:///etc/passwd", "/"],
  [`/${"a".repeat(MAX_RETURN_TO)}`, "/"],
  [`http://a--ns.portico.test/${"%2F".repeat(1000)}`, "/"],
  ["", "/"],
];

test(`return-to: ${OPEN_REDIRECTS.length} open-redirect payloads all end on / or on the base domain`, () => {
  for (const [payload, want] of OPEN_REDIRECTS) {
    const got = safeReturnTo(payload, PUBLIC, BASE);
    if (want === "/") assert.equal(got, "/", JSON.stringify(payload));
    else {
      const host = new URL(got).hostname;
      assert.ok(host === BASE || host.endsWith(`.${BASE}`), `${JSON.stringify(payload)} -> ${got}`);
    }
    // Whatever came out is what a browser opens: never another host than the base domain's.
    const opened = new URL(got, PUBLIC);
    assert.ok(
      opened.hostname === BASE || opened.hostname.endsWith(`.${BASE}`),
      `${JSON.stringify(payload)} opens ${opened.href}`,
    );
    assert.equal(opened.username + opened.password, "");
  }
  assert.equal(safeReturnTo(undefined, PUBLIC, BASE), "/");
  assert.equal(safeReturnTo(null, PUBLIC, BASE), "/");
});

test("return-to against an https public URL on another domain than the workspaces", () => {
  const pub = "https://login.example.com";
  assert.equal(safeReturnTo("/x", pub, "ws.example.com"), "https://login.example.com/x");
  assert.equal(safeReturnTo("http:/x", pub, "ws.example.com"), "/", "scheme change: absolute, no host");
  assert.equal(
    safeReturnTo("https://a--b.ws.example.com/", pub, "ws.example.com"),
    "https://a--b.ws.example.com/",
  );
  assert.equal(safeReturnTo("https://example.com/", pub, "ws.example.com"), "/");
  assert.equal(safeReturnTo("//login.example.com.evil.example/", pub, "ws.example.com"), "/");
});
