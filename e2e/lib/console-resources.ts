/**
 * The set-up the console resource-view e2e files share: alice's and bob's namespaces with a pod, a
 * Service, a ConfigMap and a Secret each, the Roles and RoleBindings that give users their rights (as
 * a cluster administrator would write them: subjects are the user names and groups the OpenID
 * provider puts in its tokens, `preferred_username` and `groups`), and a proxy with the resource
 * views on, running as the chart's ServiceAccount under the chart's rules (e2e/cluster/cluster.sh
 * renders them with console.resources.enabled and revealSecrets).
 *
 * Rights:
 *   alice (User)                 her namespace: get, list pods, services, configmaps, deployments, secrets
 *   team-b (Group: carol)        alice's namespace: list pods, services, configmaps, secrets; no get
 *   bob (User)                   his namespace: get, list pods, services, configmaps, secrets
 */
import type { Clients } from "./kube.ts";
import type { OidcProvider } from "./oidc.ts";
import { startProxy, type ProxyProcess } from "./proxy.ts";

/** The Secret values the tests hunt for in every answer and in the proxy's log. */
export const ALICE_SECRET_VALUE = "alice-db-password-7f3a9c";
export const BOB_SECRET_VALUE = "bob-db-password-c41e02";

const RBAC = "rbac.authorization.k8s.io/v1";

/** A Role granting `verbs` on `resources` (core group unless `group:resource`) in `namespace`. */
function role(namespace: string, name: string, rules: [string[], string[]][]) {
  return {
    apiVersion: RBAC,
    kind: "Role",
    metadata: { name, namespace },
    rules: rules.flatMap(([resources, verbs]) => {
      const apps = resources.filter((r) => r.startsWith("apps:")).map((r) => r.slice(5));
      const core = resources.filter((r) => !r.startsWith("apps:"));
      return [
        ...(core.length ? [{ apiGroups: [""], resources: core, verbs }] : []),
        ...(apps.length ? [{ apiGroups: ["apps"], resources: apps, verbs }] : []),
      ];
    }),
  };
}

function binding(
  namespace: string,
  name: string,
  roleName: string,
  subject: { kind: "User" | "Group"; name: string },
) {
  return {
    apiVersion: RBAC,
    kind: "RoleBinding",
    metadata: { name, namespace },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: roleName },
    subjects: [{ apiGroup: "rbac.authorization.k8s.io", ...subject }],
  };
}

/** Makes the objects and rights of both namespaces (dropped with the namespaces). */
export async function seedResources(c: Clients, aliceNs: string, bobNs: string): Promise<void> {
  for (const [ns, owner, value] of [
    [aliceNs, "alice", ALICE_SECRET_VALUE],
    [bobNs, "bob", BOB_SECRET_VALUE],
  ] as const) {
    await c.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: "settings" }, data: { theme: `${owner}-dark` } },
    });
    await c.core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: {
          name: "db",
          // What `kubectl apply` leaves behind: a copy of the object, values included.
          annotations: {
            "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify({
              stringData: { password: value },
            }),
          },
        },
        type: "Opaque",
        stringData: { password: value, user: owner },
      },
    });
    await c.core.createNamespacedService({
      namespace: ns,
      body: {
        metadata: { name: "web" },
        spec: { selector: { app: "web" }, ports: [{ port: 80, targetPort: 8080 }] },
      },
    });
    await c.core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: "web", labels: { app: "web" } },
        spec: {
          containers: [
            {
              name: "main",
              image: "busybox:1.36",
              command: ["/bin/sh", "-c", "sleep 3600"],
              env: [{ name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "db", key: "password" } } }],
            },
          ],
        },
      },
    });
  }
  const reader = (ns: string) =>
    role(ns, "console-reader", [
      [
        ["pods", "services", "configmaps", "secrets", "apps:deployments"],
        ["get", "list"],
      ],
    ]);
  for (const o of [
    reader(aliceNs),
    binding(aliceNs, "alice-reads", "console-reader", { kind: "User", name: "alice" }),
    role(aliceNs, "lister", [[["pods", "services", "configmaps", "secrets"], ["list"]]]),
    binding(aliceNs, "team-b-lists", "lister", { kind: "Group", name: "team-b" }),
    reader(bobNs),
    binding(bobNs, "bob-reads", "console-reader", { kind: "User", name: "bob" }),
  ])
    await c.objects.create(o as never);
}

/** A proxy with OIDC login and bearer tokens from `idp` and the resource views on; `extra` last. */
export function startResourcesProxy(
  idp: OidcProvider,
  o: { address: string; name: string; publicUrl: string; extra?: string[] },
): Promise<ProxyProcess> {
  return startProxy({
    address: o.address,
    port: 8080,
    name: o.name,
    flags: [
      "--auth=oidc",
      `--oidc-issuer=${idp.issuer}`,
      `--oidc-client-id=${idp.clientId}`,
      `--oidc-client-secret=${idp.clientSecret}`,
      "--oidc-audiences=portico",
      `--public-url=${o.publicUrl}`,
      "--rate-limit-ip=0",
      "--rate-limit-user=0",
      "--console-resources=true",
      ...(o.extra ?? []),
    ],
  });
}
