import assert from "node:assert/strict";
import test from "node:test";
import { httpPart, wsPart } from "./console.ts";

test("the console claims its own paths and nothing beside them", () => {
  assert.equal(httpPart("/"), "assets");
  assert.equal(httpPart("/_console/app-1234.js"), "assets");
  assert.equal(httpPart("/api/cluster"), "resources");
  assert.equal(httpPart("/api/resources"), "resources");
  assert.equal(httpPart("/api/resources/pods"), "resources");
  assert.equal(httpPart("/api/resource/pod/x"), "resources");
  for (const p of [
    "/api/v1/workspaces",
    "/api/clusters",
    "/api/resourcesx",
    "/w/ns/x/",
    "/_consolex",
    "/index.htm",
  ])
    assert.equal(httpPart(p), undefined, p);
  assert.equal(wsPart("/ws/watch"), "watch");
  assert.equal(wsPart("/ws/logs"), "logs");
  assert.equal(wsPart("/ws/shell"), "shell");
  assert.equal(wsPart("/ws/shell/"), undefined);
  assert.equal(wsPart("/ws/watchx"), undefined);
});

test("the console answers on the base domain and the public URL's host only (a GatewayRoute's host keeps its /)", async () => {
  const { consoleHosts } = await import("./console.ts");
  assert.deepEqual([...consoleHosts("portico.test", undefined)], ["portico.test"]);
  assert.deepEqual([...consoleHosts("Example.COM", "https://IDE.example.com:8443/")].sort(), [
    "example.com",
    "ide.example.com",
  ]);
  assert.ok(!consoleHosts("portico.test", "http://portico.test:8080").has("sticky.attacks.test"));
});
