import assert from "node:assert/strict";
import { test } from "node:test";
import {
  CHILD_LABEL_SELECTOR,
  CHILD_SELECTOR,
  boundedName,
  childAnnotations,
  childLabels,
  childNames,
  labelSafe,
  ownerSlug,
  pvcName,
  shortHash,
  slugify,
  workspaceLabelValue,
  workspaceSelector,
} from "./names.ts";
import { testWorkspace } from "./fixtures.ts";

const DNS1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

const long = "a".repeat(40) + "-" + "b".repeat(40); // 81 characters, a valid object name
const dotted = "notebook.v2"; // valid DNS subdomain, not a DNS label

test("child names: plain when they fit, slug + hash otherwise", () => {
  const cases: { name: string; pod: RegExp | string; pvc: RegExp | string }[] = [
    { name: "alice-notebook", pod: "ws-alice-notebook", pvc: "ws-alice-notebook-home" },
    { name: "1st", pod: "ws-1st", pvc: "ws-1st-home" },
    { name: dotted, pod: /^ws-notebook-v2-[0-9a-f]{8}$/, pvc: /^ws-notebook-v2-[0-9a-f]{8}-home$/ },
    { name: long, pod: /^ws-a{40}-b{10}-[0-9a-f]{8}$/, pvc: /^ws-a{40}-b{5}-[0-9a-f]{8}-home$/ },
    { name: "x".repeat(60), pod: `ws-${"x".repeat(60)}`, pvc: /^ws-x{46}-[0-9a-f]{8}-home$/ },
    { name: "x".repeat(61), pod: /^ws-x{51}-[0-9a-f]{8}$/, pvc: /^ws-x{46}-[0-9a-f]{8}-home$/ },
  ];
  for (const c of cases) {
    const names = childNames(testWorkspace({}, { name: c.name }));
    for (const [got, want] of [
      [names.pod, c.pod],
      [names.pvc, c.pvc],
    ] as const) {
      if (typeof want === "string") assert.equal(got, want, c.name);
      else assert.match(got, want, c.name);
      assert.ok(got.length <= 63 && DNS1035.test(got), `${got} is a DNS-1035 label`);
    }
    assert.equal(names.service, names.pod);
    assert.equal(names.networkPolicy, names.pod);
    assert.equal(names.virtualService, names.pod);
  }
});

test("names are deterministic and different inputs never share one", () => {
  const a = childNames(testWorkspace({}, { name: long }));
  assert.deepEqual(childNames(testWorkspace({}, { name: long })), a);
  // Same slug, different exact names: the hash tells them apart.
  const b = childNames(testWorkspace({}, { name: long.replace(/b$/, "c") }));
  assert.notEqual(a.pod, b.pod);
  assert.notEqual(
    childNames(testWorkspace({}, { name: "notebook.v2" })).pod,
    childNames(testWorkspace({}, { name: "notebook-v2" })).pod,
  );
  assert.equal(shortHash("x"), shortHash("x"));
  assert.match(shortHash("x"), /^[0-9a-f]{8}$/);
});

test("user-scope claim is named after the owner: home-{ownerSlug}", () => {
  const cases: { owner: string; want: RegExp | string }[] = [
    { owner: "alice", want: "home-alice" },
    { owner: "bob-2", want: "home-bob-2" },
    { owner: "Alice", want: /^home-alice-[0-9a-f]{8}$/ },
    { owner: "alice@example.com", want: /^home-alice-example-com-[0-9a-f]{8}$/ },
    { owner: "a.b_c+d", want: /^home-a-b-c-d-[0-9a-f]{8}$/ },
    { owner: "x".repeat(128), want: /^home-x{49}-[0-9a-f]{8}$/ },
  ];
  for (const c of cases) {
    const ws = testWorkspace({ owner: c.owner, storage: { scope: "user" } });
    const got = pvcName(ws);
    if (typeof c.want === "string") assert.equal(got, c.want);
    else assert.match(got, c.want);
    assert.ok(got.length <= 63 && DNS1035.test(got), got);
    // Shared: the workspace's own name does not matter.
    assert.equal(
      pvcName(testWorkspace({ owner: c.owner, storage: { scope: "user" } }, { name: "other" })),
      got,
    );
  }
  assert.notEqual(pvcName(testWorkspace({ owner: "Alice", storage: { scope: "user" } })), "home-alice");
});

test("owner slug: valid label value, exact owners kept apart", () => {
  for (const owner of ["alice", "Alice", "alice@example.com", "ALICE@EXAMPLE.COM", "x".repeat(128), "1"]) {
    const slug = ownerSlug(owner);
    assert.ok(slug.length <= 63 && LABEL_VALUE.test(slug), `${owner} → ${slug}`);
  }
  assert.equal(ownerSlug("alice"), "alice");
  assert.notEqual(ownerSlug("alice@example.com"), ownerSlug("ALICE@EXAMPLE.COM"));
});

test("labels and annotations on every child", () => {
  const ws = testWorkspace({ owner: "alice@example.com" });
  assert.deepEqual(childLabels(ws), {
    "app.kubernetes.io/managed-by": "portico-operator",
    "app.kubernetes.io/name": "portico-workspace",
    "portico.dev/workspace": "alice-notebook",
    "portico.dev/owner": ownerSlug("alice@example.com"),
  });
  assert.deepEqual(childAnnotations(ws), {
    "portico.dev/workspace": "alice-notebook",
    "portico.dev/owner": "alice@example.com",
  });
  assert.deepEqual(workspaceSelector(ws), { ...CHILD_SELECTOR, "portico.dev/workspace": "alice-notebook" });
});

test("workspace label: the name up to 63 characters, else hashed; the annotation keeps it exact", () => {
  const exact63 = "n".repeat(63);
  assert.equal(workspaceLabelValue(exact63), exact63);
  assert.equal(workspaceLabelValue(dotted), dotted);
  const hashed = workspaceLabelValue(long);
  assert.match(hashed, /^a{40}-b{13}-[0-9a-f]{8}$/);
  assert.equal(hashed.length, 63);
  const ws = testWorkspace({}, { name: long });
  assert.equal(childLabels(ws)["portico.dev/workspace"], hashed);
  assert.equal(childAnnotations(ws)["portico.dev/workspace"], long);
});

test("selector of this operator's children", () => {
  assert.equal(
    CHILD_LABEL_SELECTOR,
    "app.kubernetes.io/managed-by=portico-operator,app.kubernetes.io/name=portico-workspace",
  );
});

test("helpers: slugify, boundedName, labelSafe edge cases", () => {
  assert.equal(slugify("--Alice..Smith@@Example.COM--"), "alice-smith-example-com");
  assert.equal(slugify("@@@"), "");
  assert.match(boundedName("home-", "@@@"), /^home-[0-9a-f]{8}$/);
  assert.match(labelSafe("@@@"), /^[0-9a-f]{8}$/);
  // Truncation never leaves a dash before the hash.
  const n = boundedName("ws-", "a".repeat(50) + "-" + "b".repeat(20));
  assert.doesNotMatch(n, /--/);
  assert.ok(n.length <= 63);
});

test("missing name or namespace fail loudly", () => {
  assert.throws(() => childNames(testWorkspace({}, { name: undefined })), /metadata.name/);
});
