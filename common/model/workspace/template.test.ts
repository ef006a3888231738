import assert from "node:assert/strict";
import { test } from "node:test";
import {
  basePath,
  fillPrefix,
  readinessPath,
  requestHeaders,
  workspaceHost,
  workspaceUrl,
  type RoutingConfig,
} from "./template.ts";
import { testClass, testWorkspace } from "./fixtures.ts";

const ws = testWorkspace();
const host: RoutingConfig = { routing: "host", baseDomain: "portico.test", urlScheme: "http", urlPort: 0 };
const path: RoutingConfig = {
  routing: "path",
  baseDomain: "ide.example.com",
  urlScheme: "https",
  urlPort: 0,
};

test("base path: empty in host routing, /w/{namespace}/{name} in path routing", () => {
  assert.equal(basePath(ws, host), "");
  assert.equal(basePath(ws, path), "/w/team-a/alice-notebook");
});

test("fillPrefix replaces every {prefix} and nothing else", () => {
  const cases: [string, string, string][] = [
    ["--ServerApp.base_url={prefix}", "/w/a/b", "--ServerApp.base_url=/w/a/b"],
    ["--ServerApp.base_url={prefix}", "", "--ServerApp.base_url="],
    ["{prefix}/api{prefix}", "/p", "/p/api/p"],
    ["{other} {PREFIX} {prefix", "/p", "{other} {PREFIX} {prefix"],
    ["$& {prefix}", "$1", "$& $1"], // no replacement-pattern surprises
  ];
  for (const [input, prefix, want] of cases) assert.equal(fillPrefix(input, prefix), want, input);
});

test("readiness path: templated, default {prefix}/, never empty", () => {
  const cases: [string | undefined, string, string][] = [
    ["{prefix}/api", "/w/a/b", "/w/a/b/api"],
    ["{prefix}/api", "", "/api"],
    ["/healthz", "/w/a/b", "/healthz"],
    [undefined, "/w/a/b", "/w/a/b/"],
    [undefined, "", "/"],
    ["{prefix}", "", "/"],
  ];
  for (const [readiness, prefix, want] of cases) {
    assert.equal(
      readinessPath(testClass({ readinessPath: readiness }), prefix),
      want,
      `${readiness} / ${prefix}`,
    );
  }
});

test("request headers: values templated", () => {
  const cls = testClass({
    basePath: {
      requestHeaders: [
        { name: "X-RStudio-Root-Path", value: "{prefix}" },
        { name: "X-Static", value: "yes" },
      ],
    },
  });
  assert.deepEqual(requestHeaders(cls, "/w/a/b"), [
    { name: "X-RStudio-Root-Path", value: "/w/a/b" },
    { name: "X-Static", value: "yes" },
  ]);
  assert.deepEqual(requestHeaders(testClass({ basePath: {} }), "/x"), []);
});

test("workspace host and URL per routing mode", () => {
  assert.equal(workspaceHost(ws, host), "alice-notebook--team-a.portico.test");
  assert.equal(workspaceUrl(ws, host), "http://alice-notebook--team-a.portico.test/");
  assert.equal(workspaceHost(ws, path), "ide.example.com");
  assert.equal(workspaceUrl(ws, path), "https://ide.example.com/w/team-a/alice-notebook/");
  // A proxy on a non-default port: in the URL, never in the host that routing matches.
  const onPort = { ...host, urlPort: 18080 };
  assert.equal(workspaceUrl(ws, onPort), "http://alice-notebook--team-a.portico.test:18080/");
  assert.equal(workspaceHost(ws, onPort), "alice-notebook--team-a.portico.test");
  assert.equal(
    workspaceUrl(ws, { ...path, urlPort: 8443 }),
    "https://ide.example.com:8443/w/team-a/alice-notebook/",
  );
});
