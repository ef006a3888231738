import assert from "node:assert/strict";
import { test } from "node:test";
import type { RouteRule } from "../../crds/types.ts";
import type { RuleRef } from "../../common/model/gateway/model.ts";
import type { Identity } from "../auth/identity.ts";
import { checkRuleAccess, isPublic } from "./access.ts";

const ref = (extra: Partial<RouteRule>): RuleRef => ({
  key: "team-a/api#0",
  namespace: "team-a",
  route: "api",
  ruleIndex: 0,
  ruleName: "0",
  generation: 1,
  rule: { backends: [{ service: { name: "echo", port: 80 } }], ...extra },
});
const who = (user: string, groups: string[] = [], roles: string[] = []): Identity => ({
  user,
  groups,
  roles,
  via: "bearer",
});
const ADMIN = ["portico-admin"];

/** [rule fields, caller, admitted?] */
const ROWS: [string, Partial<RouteRule>, Identity, boolean][] = [
  ["default: any authenticated user", {}, who("bob"), true],
  ["empty lists count as absent", { users: [], groups: [] }, who("bob"), true],
  ["users: a listed user", { users: ["alice"] }, who("alice"), true],
  ["users: anyone else is refused", { users: ["alice"] }, who("bob"), false],
  ["users: names compare exactly", { users: ["alice"] }, who("Alice"), false],
  ["groups: a member", { groups: ["team-a"] }, who("carol", ["team-a"]), true],
  ["groups: a non-member", { groups: ["team-a"] }, who("carol", ["team-b"]), false],
  [
    "users or groups: either admits",
    { users: ["alice"], groups: ["team-b"] },
    who("carol", ["team-b"]),
    true,
  ],
  ["admin role passes any list", { users: ["alice"] }, who("root", [], ["portico-admin"]), true],
  ["another role does not", { users: ["alice"] }, who("root", [], ["viewer"]), false],
  [
    "a group named like the user does not count as the user",
    { users: ["team-a"] },
    who("bob", ["team-a"]),
    false,
  ],
  ["public: everyone", { public: true }, who("bob"), true],
  ["--auth=none: the demo's open door", { users: ["alice"] }, { ...who("you"), via: "none" }, true],
];

for (const [why, rule, caller, admitted] of ROWS)
  test(`rule access: ${why}`, () => {
    const r = checkRuleAccess(ref(rule), caller, ADMIN);
    if (admitted) assert.equal(r, undefined);
    else {
      assert.equal(r?.status, 403);
      assert.equal(r?.body.error, "forbidden");
      assert.match(r?.body.message ?? "", /may not use team-a\/api rule 0/);
    }
  });

test("isPublic only for public: true", () => {
  assert.equal(isPublic(ref({ public: true }).rule), true);
  assert.equal(isPublic(ref({ public: false }).rule), false);
  assert.equal(isPublic(ref({}).rule), false);
});
