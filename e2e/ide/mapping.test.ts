/**
 * Unit checks (no cluster) of how the browser tests reach real IDEs: the pod runner's image map turns
 * the vscode class's container into the cached code-server bound to the pod, and host-mode names
 * resolve to the proxy in Chromium.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parse } from "yaml";
import { hostResolverRules } from "../lib/browser.ts";
import { processFor, type ImageRule } from "../runner/images.ts";
import { vscodeClass } from "./checks.ts";

const REPO = resolve(import.meta.dirname, "../..");

test("a codercom/code-server container runs e2e/ide/code-server.sh with the class's args, bound to the pod last", async () => {
  const { images } = parse(await readFile(join(REPO, "e2e/runner/images.yaml"), "utf8")) as {
    images: ImageRule[];
  };
  const cls = await vscodeClass("vscode");
  const spec = processFor(
    {
      name: "ide",
      image: cls.spec.image,
      args: cls.spec.args,
      volumeMounts: [{ name: "home", mountPath: "/home/coder" }],
    },
    images,
    { podIP: "198.18.128.7", port: "8080", repo: "/r" },
    new Map([["/home/coder", "/v/pvc-1"]]),
  );
  assert.ok(!("error" in spec), JSON.stringify(spec));
  assert.equal(spec.file, "/r/e2e/ide/code-server.sh");
  // The folder to open is the volume; the pod's address comes after the class's 0.0.0.0 and wins.
  assert.ok(spec.args.includes("/v/pvc-1"), spec.args.join(" "));
  const bind = spec.args.lastIndexOf("--bind-addr");
  assert.ok(bind > spec.args.indexOf("--bind-addr=0.0.0.0:8080"));
  assert.equal(spec.args[bind + 1], "198.18.128.7:8080");
  assert.deepEqual(spec.args.slice(bind + 2), [
    "--auth",
    "none",
    "--disable-telemetry",
    "--disable-update-check",
  ]);
});

test("hostResolverRules maps each domain and every name under it to its address", () => {
  assert.equal(
    hostResolverRules({ "portico.test": "198.18.0.71" }),
    "MAP *.portico.test 198.18.0.71,MAP portico.test 198.18.0.71",
  );
  assert.equal(
    hostResolverRules({ "a.test": "198.18.0.1", "b.test": "198.18.0.2" }),
    "MAP *.a.test 198.18.0.1,MAP a.test 198.18.0.1,MAP *.b.test 198.18.0.2,MAP b.test 198.18.0.2",
  );
});
