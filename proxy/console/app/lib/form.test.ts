import { test } from "node:test";
import assert from "node:assert/strict";
import { boundsHint, createBody, fieldOf, initialValues, type WorkspaceClass } from "./form.ts";

const cls: WorkspaceClass = {
  name: "jupyterlab",
  defaults: { storage: "1Gi" },
  bounds: { maxStorage: "10Gi" },
};

test("the body leaves out what was not typed", () => {
  const v = initialValues(cls);
  assert.deepEqual(v, { className: "jupyterlab", name: "", repository: "", storage: "1Gi", running: true });
  assert.deepEqual(createBody({ ...v, storage: " " }), { className: "jupyterlab", running: true });
  assert.deepEqual(createBody({ ...v, name: " thesis ", repository: "https://git/x.git", running: false }), {
    className: "jupyterlab",
    running: false,
    name: "thesis",
    repository: { url: "https://git/x.git" },
    storage: { size: "1Gi" },
  });
  assert.equal(initialValues(undefined).className, "");
});

test("an API field names the input it is about", () => {
  assert.equal(fieldOf("storage.size"), "storage");
  assert.equal(fieldOf("repository.url"), "repository");
  assert.equal(fieldOf("name"), "name");
  assert.equal(fieldOf("className"), "className");
  assert.equal(fieldOf("sharedWith.users.0"), undefined);
  assert.equal(fieldOf(undefined), undefined);
});

test("the bounds hint", () => {
  assert.equal(boundsHint(cls), "default 1Gi, at most 10Gi");
  assert.equal(boundsHint({ name: "x", defaults: {}, bounds: {} }), "");
});
