/**
 * The CRD YAML is the source of truth; this test proves `types.ts` agrees with it:
 *  - fully populated typed samples (`samples.ts`, checked by tsc against the types) set every schema
 *    path, and the schema has every path the samples set, with matching value types and bounds;
 *  - every schema enum equals an `as const` list in `types.ts`, and tsc proves that list is exactly the
 *    type of the field it belongs to;
 *  - the CRDs have the structure kubectl users rely on: status subresource, printer columns, short
 *    names, the `portico` category, a description on every field, bounded strings and lists (CEL cost),
 *    a message and a field path on every cross-field rule, and defaults that pass their own schema;
 *  - the example manifests fit the schemas.
 * The real API server's verdicts (CEL included) are in e2e/tests/api-validation.test.ts.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { sampleGatewayRoute, sampleWorkspace, sampleWorkspaceClass } from "./samples.ts";
import {
  checkObject,
  CRD_FILES,
  forEachNode,
  type JSONSchemaProps,
  loadCrd,
  mapValues,
  nodeAt,
  schemaPaths,
  versionSchema,
} from "./schema.ts";
import {
  CATEGORY,
  CONDITION_STATUSES,
  GATEWAY_ROUTE,
  GIT_PROTOCOLS,
  GROUP,
  HEADER_MATCH_TYPES,
  HTTP_METHODS,
  IMAGE_PULL_POLICIES,
  KINDS,
  LOAD_BALANCER_STRATEGIES,
  PATH_MATCH_TYPES,
  RATE_LIMIT_KEYS,
  RECLAIM_POLICIES,
  RETRY_ON,
  STORAGE_SCOPES,
  VERSION,
  WORKSPACE,
  WORKSPACE_CLASS,
  WORKSPACE_PHASES,
  type Condition,
  type GitProtocol,
  type ImagePullPolicy,
  type LoadBalancer,
  type PathMatch,
  type HeaderMatch,
  type PorticoObject,
  type RateLimit,
  type RouteMatch,
  type RouteRetries,
  type WorkspaceStatus,
  type SyncState,
  SYNC_STATES,
  type WorkspaceStorage,
} from "./types.ts";

/**
 * Returns `values` only when their union is exactly `Field`: a list missing a member of the field's type,
 * or naming one the type lacks, does not compile. Ties each `as const` list to the field that uses it.
 */
function exactly<Field extends string>() {
  return <const V extends readonly Field[]>(
    values: V & ([Field] extends [V[number]] ? unknown : { missing: Exclude<Field, V[number]> }),
  ): readonly string[] => values;
}

/** Per kind: its CRD, its fully populated sample, and the TypeScript list behind each schema enum. */
const cases = [
  {
    names: WORKSPACE,
    crd: loadCrd(CRD_FILES.workspaces),
    sample: sampleWorkspace() as PorticoObject,
    enums: {
      "spec.storage.reclaimPolicy":
        exactly<NonNullable<WorkspaceStorage["reclaimPolicy"]>>()(RECLAIM_POLICIES),
      "spec.storage.scope": exactly<NonNullable<WorkspaceStorage["scope"]>>()(STORAGE_SCOPES),
      "status.phase": exactly<NonNullable<WorkspaceStatus["phase"]>>()(WORKSPACE_PHASES),
      "status.sync.state": exactly<SyncState>()(SYNC_STATES),
      "status.conditions[].status": exactly<Condition["status"]>()(CONDITION_STATUSES),
    },
    columns: ["Owner", "Class", "Phase", "Ready", "URL", "Running", "Message", "Age"],
  },
  {
    names: WORKSPACE_CLASS,
    crd: loadCrd(CRD_FILES.workspaceclasses),
    sample: sampleWorkspaceClass() as PorticoObject,
    enums: {
      "spec.imagePullPolicy": exactly<ImagePullPolicy>()(IMAGE_PULL_POLICIES),
      "spec.git.allowedProtocols[]": exactly<GitProtocol>()(GIT_PROTOCOLS),
      "status.conditions[].status": exactly<Condition["status"]>()(CONDITION_STATUSES),
    },
    columns: ["Display", "Image", "Port", "Age"],
  },
  {
    names: GATEWAY_ROUTE,
    crd: loadCrd(CRD_FILES.gatewayroutes),
    sample: sampleGatewayRoute() as PorticoObject,
    enums: {
      "spec.rules[].matches[].path.type": exactly<NonNullable<PathMatch["type"]>>()(PATH_MATCH_TYPES),
      "spec.rules[].matches[].methods[]": exactly<NonNullable<RouteMatch["methods"]>[number]>()(HTTP_METHODS),
      "spec.rules[].matches[].headers[].type":
        exactly<NonNullable<HeaderMatch["type"]>>()(HEADER_MATCH_TYPES),
      "spec.rules[].loadBalancer.strategy":
        exactly<NonNullable<LoadBalancer["strategy"]>>()(LOAD_BALANCER_STRATEGIES),
      "spec.rules[].retries.retryOn[]": exactly<NonNullable<RouteRetries["retryOn"]>[number]>()(RETRY_ON),
      "spec.rules[].rateLimit.key": exactly<NonNullable<RateLimit["key"]>>()(RATE_LIMIT_KEYS),
      "status.conditions[].status": exactly<Condition["status"]>()(CONDITION_STATUSES),
    },
    columns: ["Hosts", "Ready", "Accepted", "Healthy", "Backends", "Age"],
  },
];

/** Paths under `metadata`, `apiVersion` and `kind` belong to the API server, not to Portico's schema. */
const own = (path: string) => !/^(metadata|apiVersion|kind)(\.|$)/.test(path);

/** `.status.conditions[?(@.type=="Ready")].status` → `status.conditions[].status`. */
const columnPath = (jsonPath: string) => jsonPath.replace(/\[\?\(.*?\)\]/g, "[]").replace(/^\./, "");

for (const { names, crd, sample, enums, columns } of cases) {
  const schema = versionSchema(crd, VERSION);

  describe(`${names.kind} CRD`, () => {
    it("is named and scoped as types.ts says", () => {
      assert.equal(crd.apiVersion, "apiextensions.k8s.io/v1");
      assert.equal(crd.kind, "CustomResourceDefinition");
      assert.equal(crd.metadata.name, `${names.plural}.${GROUP}`);
      assert.equal(crd.spec.group, GROUP);
      assert.equal(crd.spec.scope, names.namespaced ? "Namespaced" : "Cluster");
      assert.equal(crd.spec.names.kind, names.kind);
      assert.equal(crd.spec.names.listKind, `${names.kind}List`);
      assert.equal(crd.spec.names.plural, names.plural);
      assert.equal(crd.spec.names.singular, names.singular);
      assert.deepEqual(crd.spec.names.shortNames, [names.shortName]);
      assert.deepEqual(crd.spec.names.categories, [CATEGORY]);
      assert.equal(sample.kind, names.kind);
      assert.equal(sample.apiVersion, `${GROUP}/${VERSION}`);
    });

    it("serves and stores exactly v1alpha1, with a status subresource", () => {
      assert.equal(crd.spec.versions.length, 1);
      const [v] = crd.spec.versions;
      assert.equal(v?.name, VERSION);
      assert.equal(v?.served, true);
      assert.equal(v?.storage, true);
      assert.deepEqual(v?.subresources, { status: {} });
      assert.deepEqual(schema.required, ["spec"]);
      assert.equal(schema.properties?.status?.type, "object");
    });

    it("has the printer columns kubectl users expect, each pointing at a real field of the right type", () => {
      const printed = crd.spec.versions[0]?.additionalPrinterColumns ?? [];
      assert.deepEqual(
        printed.map((c) => c.name),
        columns,
      );
      for (const column of printed) {
        if (column.name === "Age") {
          assert.deepEqual([column.type, column.jsonPath], ["date", ".metadata.creationTimestamp"]);
          continue;
        }
        assert.ok(column.description, `column ${column.name} needs a description`);
        const node = nodeAt(schema, columnPath(column.jsonPath));
        assert.ok(node, `column ${column.name}: ${column.jsonPath} is not in the schema`);
        const expected = node.type === "array" ? "string" : node.type;
        assert.equal(column.type, expected, `column ${column.name} type`);
      }
    });

    it("sets every schema path in the fully populated sample, and nothing the schema lacks", () => {
      const checked = checkObject(sample, schema);
      assert.deepEqual(checked.problems, [], "the sample breaks the schema");
      const missing = [...schemaPaths(schema)].filter((p) => own(p) && !checked.paths.has(p));
      assert.deepEqual(
        missing,
        [],
        "schema fields the typed sample does not set (add them to types.ts and samples.ts)",
      );
      const extra = [...checked.paths].filter((p) => own(p) && !nodeAt(schema, p));
      assert.deepEqual(extra, [], "sample fields the schema lacks");
    });

    it("has a TypeScript list equal to every enum of the schema", () => {
      const found: Record<string, unknown[]> = {};
      forEachNode(schema, (node, path) => {
        if (node.enum) found[path] = node.enum;
      });
      assert.deepEqual(Object.keys(found).sort(), Object.keys(enums).sort(), "enum fields");
      for (const [path, values] of Object.entries(enums)) assert.deepEqual(found[path], [...values], path);
    });

    it("describes every field", () => {
      const undescribed: string[] = [];
      forEachNode(schema, (node, path) => {
        // The API server forbids anything but `type` on metadata.
        const isProperty = path !== "" && path !== "metadata" && !path.endsWith("[]") && !path.endsWith("{}");
        if (isProperty && !node.description?.trim()) undescribed.push(path);
      });
      assert.deepEqual(undescribed, []);
      assert.ok(schema.description);
    });

    it("bounds every string, list and map that a client writes (CEL cost estimates need bounds)", () => {
      const unbounded: string[] = [];
      forEachNode(schema, (node, path) => {
        if (!own(path) || path === "") return;
        const isString = node.type === "string" || node["x-kubernetes-int-or-string"];
        if (isString && !node.enum && node.format !== "date-time" && node.maxLength === undefined) {
          unbounded.push(`${path} (maxLength)`);
        }
        if (node.type === "array" && node.maxItems === undefined) unbounded.push(`${path} (maxItems)`);
        if (mapValues(node) && node.maxProperties === undefined) unbounded.push(`${path} (maxProperties)`);
      });
      assert.deepEqual(unbounded, []);
    });

    it("gives every CEL rule a message, and every rule on an object a field path naming one of its fields", () => {
      const reasons = new Set([
        "FieldValueInvalid",
        "FieldValueForbidden",
        "FieldValueRequired",
        "FieldValueDuplicate",
      ]);
      let count = 0;
      forEachNode(schema, (node, path) => {
        for (const rule of node["x-kubernetes-validations"] ?? []) {
          count++;
          const where = `${path}: ${rule.rule}`;
          assert.ok(rule.rule.trim(), `${path}: empty rule`);
          assert.ok(rule.message?.trim() || rule.messageExpression, `${where} needs a message`);
          if (rule.reason) assert.ok(reasons.has(rule.reason), `${where}: unknown reason ${rule.reason}`);
          if (node.properties) {
            assert.ok(rule.fieldPath, `${where} needs a fieldPath so the API server's error names the field`);
            const target = nodeAt(node, rule.fieldPath.replace(/^\./, ""));
            assert.ok(target, `${where}: fieldPath ${rule.fieldPath} is not a field of ${path}`);
          }
        }
      });
      assert.ok(count > 0, "expected CEL rules");
    });

    it("has defaults that pass their own field's schema", () => {
      forEachNode(schema, (node, path) => {
        if (node.default === undefined) return;
        assert.deepEqual(checkObject(node.default, node).problems, [], `default of ${path}`);
      });
    });

    it("has patterns that compile", () => {
      forEachNode(schema, (node, path) => {
        if (node.pattern) assert.doesNotThrow(() => new RegExp(node.pattern!, "u"), path);
      });
    });
  });
}

describe("schema details", () => {
  const workspace = versionSchema(loadCrd(CRD_FILES.workspaces), VERSION);
  const wsClass = versionSchema(loadCrd(CRD_FILES.workspaceclasses), VERSION);
  const route = versionSchema(loadCrd(CRD_FILES.gatewayroutes), VERSION);
  const defaultOf = (root: JSONSchemaProps, path: string) => nodeAt(root, path)?.default;

  it("defaults what DESIGN.md says, and defaults parents to {} so nested defaults always apply", () => {
    assert.equal(defaultOf(workspace, "spec.running"), true);
    assert.deepEqual(defaultOf(workspace, "spec.storage"), {});
    assert.equal(defaultOf(workspace, "spec.storage.reclaimPolicy"), "Retain");
    assert.equal(defaultOf(workspace, "spec.storage.scope"), "workspace");
    assert.deepEqual(defaultOf(wsClass, "spec.storage"), {});
    assert.equal(defaultOf(wsClass, "spec.storage.mountPath"), "/home/coder");
    assert.deepEqual(defaultOf(wsClass, "spec.basePath"), {});
    assert.equal(defaultOf(wsClass, "spec.basePath.stripPrefix"), false);
    assert.equal(defaultOf(wsClass, "spec.forwardToken"), false);
    assert.deepEqual(defaultOf(wsClass, "spec.git"), {});
    assert.deepEqual(defaultOf(wsClass, "spec.git.allowedProtocols"), ["https", "ssh"]);
    assert.equal(defaultOf(route, "spec.rules[].backends[].weight"), 1);
    assert.equal(defaultOf(route, "spec.rules[].loadBalancer.strategy"), "RoundRobin");
    assert.equal(defaultOf(route, "spec.rules[].websocket"), true);
  });

  it("keeps conditions a map keyed by type, like metav1.Condition lists", () => {
    for (const root of [workspace, wsClass, route]) {
      const conditions = nodeAt(root, "status.conditions");
      assert.equal(conditions?.["x-kubernetes-list-type"], "map");
      assert.deepEqual(conditions?.["x-kubernetes-list-map-keys"], ["type"]);
      assert.deepEqual(conditions?.items?.required, [
        "type",
        "status",
        "lastTransitionTime",
        "reason",
        "message",
      ]);
    }
  });

  /** Runs a string field's pattern the way the API server would (these patterns mean the same in RE2). */
  const accepts = (root: JSONSchemaProps, path: string, value: unknown) =>
    checkObject(value, nodeAt(root, path)!).problems.length === 0;

  it("takes Go-style durations and nothing else", () => {
    for (const ok of ["0s", "30m", "2h", "1h30m", "1.5h", "250ms", "90s"]) {
      assert.ok(accepts(workspace, "spec.idleTimeout", ok), ok);
    }
    for (const bad of ["-5m", "30", "5 m", "1d", "", "m", "1h-30m", "P1D"]) {
      assert.ok(!accepts(workspace, "spec.idleTimeout", bad), bad);
    }
  });

  it("takes non-negative quantities as strings or integers", () => {
    for (const ok of ["10Gi", "500m", "1.5", "1e3", "+2Ki", 4, "0.5Ti"]) {
      assert.ok(accepts(workspace, "spec.resources.requests{}", ok), String(ok));
    }
    for (const bad of ["ten", "-1Gi", "10 Gi", "1GB", -1, "", "1.2.3"]) {
      assert.ok(!accepts(workspace, "spec.resources.requests{}", bad), String(bad));
    }
  });

  it("takes RFC 1123 host names with an optional leading wildcard", () => {
    for (const ok of ["example.com", "a.b-c.example", "*.apps.example.com", "localhost"]) {
      assert.ok(accepts(route, "spec.hosts[]", ok), ok);
    }
    for (const bad of ["Example.com", "*.*.example.com", "a..b", "-a.com", "a_b.com", "example.com.", "*"]) {
      assert.ok(!accepts(route, "spec.hosts[]", bad), bad);
    }
  });

  it("takes HTTP token header names", () => {
    for (const ok of ["X-Forwarded-Prefix", "x-rstudio-root-path", "Cache-Control"]) {
      assert.ok(accepts(route, "spec.rules[].matches[].headers[].name", ok), ok);
    }
    for (const bad of ["Bad Header", "X:Y", "", "X\nY"]) {
      assert.ok(!accepts(route, "spec.rules[].matches[].headers[].name", bad), JSON.stringify(bad));
    }
  });

  it("reports unknown fields and wrong types in an object", () => {
    const broken = sampleWorkspace();
    Object.assign(broken.spec, { ownr: "typo", running: "yes" });
    const problems = checkObject(broken, workspace).problems;
    assert.ok(problems.includes("spec: unknown field ownr"), problems.join("\n"));
    assert.ok(
      problems.some((p) => p.startsWith("spec.running: expected a boolean")),
      problems.join("\n"),
    );
  });
});

describe("YAML files", () => {
  const here = fileURLToPath(new URL(".", import.meta.url));
  // The API's examples, and the default WorkspaceClasses the Helm chart ships.
  const exampleDirs = [`${here}examples/`, `${here}../charts/portico/files/workspaceclasses/`];
  const examplePaths = exampleDirs.flatMap((d) =>
    readdirSync(d)
      .filter((f) => f.endsWith(".yaml"))
      .map((f) => d + f),
  );
  const crdFiles = Object.values(CRD_FILES).map((f) => `${here}${f}`);

  it("read the same as YAML 1.1, which kubectl uses (no bare on/yes/no surprises)", () => {
    for (const file of [...crdFiles, ...examplePaths]) {
      const text = readFileSync(file, "utf8");
      const docs12 = parseAllDocuments(text).map((d) => d.toJS());
      const docs11 = parseAllDocuments(text, { version: "1.1" }).map((d) => d.toJS());
      assert.deepEqual(docs11, docs12, file);
    }
  });

  it("include the examples DESIGN.md promises", () => {
    const all = examplePaths.flatMap((f) => parseAllDocuments(readFileSync(f, "utf8")).map((d) => d.toJS()));
    const named = (kind: string) => all.filter((o) => o.kind === kind).map((o) => o.metadata.name as string);
    for (const ide of ["vscode", "jupyterlab", "rstudio"])
      assert.ok(named("WorkspaceClass").includes(ide), ide);
    const withRepoAndStorage = all.filter(
      (o) => o.kind === "Workspace" && o.spec.repository && o.spec.storage,
    );
    assert.ok(withRepoAndStorage.length > 0, "a Workspace with repository and storage");
    assert.ok(
      all.some((o) => o.kind === "GatewayRoute" && o.spec.rules.length > 1),
      "a GatewayRoute with several rules",
    );
  });

  for (const path of examplePaths) {
    const file = path.split("/").slice(-2).join("/");
    it(`${file} fits the schema of its kind`, () => {
      const docs = parseAllDocuments(readFileSync(path, "utf8")).map((d) => d.toJS());
      assert.ok(docs.length > 0);
      for (const doc of docs) {
        const names = KINDS.find((k) => k.kind === doc.kind);
        assert.ok(names, `${file}: unknown kind ${doc.kind}`);
        assert.equal(doc.apiVersion, `${GROUP}/${VERSION}`);
        assert.equal(doc.status, undefined, `${file}: examples carry no status`);
        const schema = versionSchema(loadCrd(`${names.plural}.${GROUP}.yaml`), VERSION);
        assert.deepEqual(checkObject(doc, schema).problems, [], `${file} ${doc.kind}/${doc.metadata.name}`);
      }
    });
  }
});
