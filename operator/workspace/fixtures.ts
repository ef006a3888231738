/**
 * Test fixtures for the workspace builders: the operator's BuilderConfig, and (re-exported from the
 * shared model's fixtures) a Workspace and a WorkspaceClass. Used only by tests.
 */
export { testClass, testWorkspace } from "../../common/model/workspace/fixtures.ts";
import type { BuilderConfig } from "../config.ts";
import { DEFAULT_EGRESS_DENY } from "./egress.ts";

/** The operator's default builder configuration (host routing). */
export function testConfig(overrides: Partial<BuilderConfig> = {}): BuilderConfig {
  return {
    routing: "host",
    baseDomain: "portico.test",
    urlScheme: "http",
    urlPort: 0,
    proxyNamespace: "portico-system",
    proxyServiceName: "portico-proxy",
    proxyServicePort: 80,
    proxyPodLabels: { "app.kubernetes.io/name": "portico-proxy" },
    operatorPodLabels: { "app.kubernetes.io/name": "portico-operator" },
    gitImage: "docker.io/alpine/git:2.47.2",
    defaultStorageSize: "10Gi",
    istioGateways: [],
    workspaceEgress: {
      mode: "restricted",
      podCidrs: ["10.244.0.0/16"],
      serviceCidrs: ["10.96.0.0/12"],
      apiServerCidrs: [],
      deny: [...DEFAULT_EGRESS_DENY],
      allow: [],
    },
    ...overrides,
  };
}
