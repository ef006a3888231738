/**
 * Who may use a GatewayRoute rule (pure). A rule says `public: true` (served without authentication;
 * credentials, if presented, still identify the caller), or lists `users` and/or `groups` (only those,
 * plus the proxy's admin roles), or neither: any authenticated user (the default, as before rules
 * could say more). `--auth=none` (the local demo) admits everyone, as it does for workspaces.
 */
import type { RouteRule } from "../../crds/types.ts";
import type { RuleRef } from "../../common/model/gateway/model.ts";
import type { Identity } from "../auth/identity.ts";
import type { Refusal } from "../http/request.ts";

/** Whether the rule is served to callers who did not (or could not) authenticate. */
export const isPublic = (rule: RouteRule): boolean => rule.public === true;

/** Whether `who` may use the rule; a 403 refusal naming the rule otherwise. */
export function checkRuleAccess(
  ref: RuleRef,
  who: Identity,
  adminRoles: readonly string[],
): Refusal | undefined {
  const { rule } = ref;
  if (isPublic(rule) || who.via === "none") return undefined;
  const users = rule.users ?? [];
  const groups = rule.groups ?? [];
  if (users.length === 0 && groups.length === 0) return undefined;
  if (users.includes(who.user)) return undefined;
  if (groups.some((g) => who.groups.includes(g))) return undefined;
  if (who.roles.some((r) => adminRoles.includes(r))) return undefined;
  return {
    status: 403,
    body: {
      error: "forbidden",
      message: `${who.user} may not use ${ref.namespace}/${ref.route} rule ${ref.ruleName}: it admits only its listed users and groups; ask the route's owner to add you`,
    },
  };
}
