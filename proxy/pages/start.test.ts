import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryApi, user } from "../api/memory-api.ts";
import { fromOwnPage, startAnswer, startMethod } from "./start.ts";

const host = { scheme: "http", host: "a--ns.portico.test:8080", prefix: "" };
const path = { scheme: "http", host: "portico.test:8080", prefix: "/w/ns/a" };
const own = "http://a--ns.portico.test:8080";

test("the start comes from the workspace's own page: Origin, Sec-Fetch-Site and Referer agree", () => {
  const ok = { origin: own, "sec-fetch-site": "same-origin", referer: `${own}/lab` };
  assert.equal(fromOwnPage(ok, host), undefined);
  assert.equal(
    fromOwnPage({ origin: own, referer: `${own}/` }, host),
    undefined,
    "older browsers: no Sec-Fetch-*",
  );
  const refused: Record<string, string>[] = [
    { referer: `${own}/` }, // no Origin (a browser always sends one on a POST)
    { origin: "http://b--ns.portico.test:8080", "sec-fetch-site": "same-site", referer: `${own}/` },
    {
      origin: "http://portico.test:8080",
      "sec-fetch-site": "same-site",
      referer: "http://portico.test:8080/",
    },
    { origin: "http://evil.example", "sec-fetch-site": "cross-site", referer: "http://evil.example/" },
    { origin: "null", "sec-fetch-site": "same-origin", referer: `${own}/` },
    { origin: own, "sec-fetch-site": "cross-site", referer: `${own}/` },
    { origin: own, "sec-fetch-site": "same-origin" }, // no Referer
    { origin: own, "sec-fetch-site": "same-origin", referer: "http://evil.example/" },
  ];
  for (const h of refused) {
    const r = fromOwnPage(h, host);
    assert.equal(r?.status, 403, JSON.stringify(h));
    assert.equal(r?.body.error, "cross_origin");
  }
});

test("path mode: another workspace's page on the shared origin is refused by its Referer", () => {
  const o = "http://portico.test:8080";
  assert.equal(fromOwnPage({ origin: o, referer: `${o}/w/ns/a/` }, path), undefined);
  assert.equal(fromOwnPage({ origin: o, referer: `${o}/w/ns/b/` }, path)?.status, 403);
  assert.equal(fromOwnPage({ origin: o, referer: `${o}/w/ns/ab/` }, path)?.status, 403, "not a mere prefix");
  assert.equal(fromOwnPage({ origin: o, referer: `${o}/` }, path)?.status, 403, "the console's page");
});

test("POST only", () => {
  assert.equal(startMethod("POST"), undefined);
  for (const m of ["GET", "HEAD", "PUT", "DELETE"]) assert.equal(startMethod(m)?.status, 405, m);
});

test("the service's answer: 202 with the workspace, or its refusal (403 sharee, 404 stranger)", async () => {
  const api = new MemoryApi();
  api.add("alice", "a", { running: false, phase: "Stopped", sharedWith: { users: ["bob"] } });
  const ok = await startAnswer(api, user("alice"), "ws-alice", "a");
  assert.equal(ok.status, 202);
  assert.equal((ok.body as { workspace: { running: boolean } }).workspace.running, true);
  assert.equal((await startAnswer(api, user("bob"), "ws-alice", "a")).status, 403);
  const stranger = await startAnswer(api, user("mallory"), "ws-alice", "a");
  assert.deepEqual([stranger.status, (stranger.body as { error: string }).error], [404, "not_found"]);
  api.bug = new Error("boom");
  await assert.rejects(startAnswer(api, user("alice"), "ws-alice", "a"), /boom/, "a bug is not a refusal");
});
