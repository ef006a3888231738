import { test } from "node:test";
import assert from "node:assert/strict";
import { fillTemplate, globMatch, processFor, translatePaths, type ImageRule } from "./images.ts";

const rules: ImageRule[] = [
  {
    match: "portico.dev/test/http-echo*",
    command: ["{repo}/node", "{repo}/echo.ts"],
    env: { HOST: "{podIP}", PORT: "{port}" },
  },
  { match: "*/git:*", command: ["/usr/bin/git"] },
];
const values = { podIP: "198.18.128.5", port: "8080", repo: "/r" };

test("globMatch treats * as any run of characters, anchored at both ends", () => {
  assert.equal(globMatch("*/git:*", "alpine/git:2.45"), true);
  assert.equal(globMatch("*/git:*", "alpine/gitx:2"), false);
  assert.equal(globMatch("busybox*", "docker.io/busybox"), false);
  assert.equal(globMatch("a.b", "axb"), false, "dots are literal");
});

test("fillTemplate fills known placeholders and leaves others", () => {
  assert.equal(fillTemplate("{podIP}:{port} {prefix}", values), "198.18.128.5:8080 {prefix}");
});

test("translatePaths rewrites whole path prefixes, longest mount first", () => {
  const mounts = new Map([
    ["/home/coder", "/v/pvc-1"],
    ["/home/coder/cache", "/v/empty-1"],
    ["/data", "/v/d"],
  ]);
  assert.equal(translatePaths("/home/coder/project", mounts), "/v/pvc-1/project");
  assert.equal(translatePaths("--dir=/home/coder/cache/x", mounts), "--dir=/v/empty-1/x");
  assert.equal(translatePaths("/datafile /data", mounts), "/datafile /v/d");
  assert.equal(translatePaths("cd '/data' && ls /data/a", mounts), "cd '/v/d' && ls /v/d/a");
});

test("processFor uses the image rule as entrypoint and appends the container args", () => {
  const p = processFor(
    { name: "c", image: "portico.dev/test/http-echo:1", args: ["--root", "/data/x"] },
    rules,
    values,
    new Map([["/data", "/v/d"]]),
  );
  assert.deepEqual(p, {
    file: "/r/node",
    args: ["/r/echo.ts", "--root", "/v/d/x"],
    env: { HOST: "198.18.128.5", PORT: "8080" },
  });
});

test("processFor lets an explicit container command override the entrypoint", () => {
  const p = processFor(
    { name: "c", image: "alpine/git:2", command: ["/bin/sh", "-c"], args: ["git -C /w pull"] },
    rules,
    values,
    new Map([["/w", "/v/w"]]),
  );
  assert.deepEqual(p, { file: "/bin/sh", args: ["-c", "git -C /v/w pull"], env: {} });
});

test("processFor reports an image that is not in the map", () => {
  const p = processFor({ name: "c", image: "nope:1" }, rules, values, new Map());
  assert.ok("error" in p && /nope:1/.test(p.error));
});

test("a replaceCommand rule runs its own program; its argsAfter replace the container's dropped args", () => {
  const jupyter: ImageRule = {
    match: "quay.io/jupyter/*",
    command: ["/usr/bin/jupyter-server"],
    replaceCommand: true,
    argsAfter: ["--ServerApp.ip={podIP}"],
    dropArgs: ["^--ServerApp\\.ip="],
  };
  const p = processFor(
    {
      name: "ide",
      image: "quay.io/jupyter/minimal-notebook:1",
      command: ["jupyter", "lab"],
      args: ["--ServerApp.ip=0.0.0.0"],
    },
    [jupyter],
    values,
    new Map(),
  );
  assert.deepEqual(p, {
    file: "/usr/bin/jupyter-server",
    args: ["--ServerApp.ip=198.18.128.5"],
    env: {},
  });
});

test("the rule's local command is never rewritten by a mount whose path prefixes it", () => {
  const p = processFor(
    { name: "c", image: "portico.dev/test/http-echo:1", args: ["/work/x"] },
    rules,
    { ...values, repo: "/work/main" },
    new Map([["/work", "/v/w"]]),
  );
  assert.deepEqual(p, {
    file: "/work/main/node",
    args: ["/work/main/echo.ts", "/v/w/x"],
    env: { HOST: "198.18.128.5", PORT: "8080" },
  });
});
