/**
 * The chart ships the API's CRDs in its crds/ directory (Helm installs them before anything else):
 * they must be the very files in crds/, the one source of truth.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { test } from "node:test";

const REPO = resolve(import.meta.dirname, "..");
const crdFiles = (dir: string) =>
  readdirSync(join(REPO, dir))
    .filter((f) => f.endsWith(".portico.dev.yaml"))
    .sort();

test("the chart's CRDs are exactly crds/*.yaml (refresh: npm run chart:crds)", () => {
  const source = crdFiles("crds");
  assert.ok(source.length >= 3, "crds/ holds the Workspace, WorkspaceClass and GatewayRoute CRDs");
  assert.deepEqual(crdFiles("charts/portico/crds"), source, "the same CRD files");
  for (const f of source)
    assert.equal(
      readFileSync(join(REPO, "charts/portico/crds", f), "utf8"),
      readFileSync(join(REPO, "crds", f), "utf8"),
      `charts/portico/crds/${f} differs from crds/${f}: run npm run chart:crds`,
    );
});
