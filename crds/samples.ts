/**
 * One fully populated object per kind: every field of the schema is set somewhere (alternatives that
 * exclude each other, like a backend's `service` and `url`, are set in different list items), and every
 * value is valid. TypeScript checks they fit `types.ts`; `crds.test.ts` checks they cover the CRD schemas
 * exactly; the e2e API test checks the real API server accepts them, status included.
 */
import { API_VERSION, type GatewayRoute, type Workspace, type WorkspaceClass } from "./types.ts";

const condition = (type: string) => ({
  type,
  status: "True" as const,
  observedGeneration: 1,
  lastTransitionTime: "2026-01-02T03:04:05Z",
  reason: "AsExpected",
  message: `${type} is fine`,
});

/** A Workspace with every spec and status field set. */
export function sampleWorkspace(name = "sample-workspace"): Workspace {
  return {
    apiVersion: API_VERSION,
    kind: "Workspace",
    metadata: { name },
    spec: {
      owner: "alice@example.com",
      className: "jupyterlab",
      ide: "jupyterlab",
      image: "registry.example.com/ide/jupyterlab:4.4",
      running: true,
      repository: {
        url: "https://git.example.com/team/analysis.git",
        ref: "main",
        secretRef: { name: "git-credentials" },
      },
      storage: { size: "10Gi", storageClassName: "standard", reclaimPolicy: "Delete", scope: "user" },
      resources: { requests: { cpu: "500m", memory: "1Gi" }, limits: { cpu: 2, memory: "4Gi" } },
      idleTimeout: "1h30m",
      sharedWith: { users: ["bob"], groups: ["/data-science"] },
    },
    status: {
      observedGeneration: 1,
      phase: "Running",
      className: "jupyterlab",
      conditions: [condition("Ready"), condition("PodReady")],
      url: "http://portico.test/w/team-a/sample-workspace/",
      children: {
        pvc: "sample-workspace-home",
        pod: "sample-workspace",
        service: "sample-workspace",
        virtualService: "sample-workspace",
        networkPolicy: "sample-workspace",
      },
      lastActivity: "2026-01-02T03:04:05Z",
      activity: {
        proxy: "2026-01-02T03:04:05Z",
        console: "2026-01-02T03:01:00Z",
        ide: "2026-01-02T02:58:00Z",
        keepAliveUntil: "2026-01-02T01:00:00Z",
      },
      stopsAt: "2026-01-02T04:34:05Z",
      message: "running",
      sync: {
        requested: "2026-01-02T03:04:05Z-ab12cd",
        state: "Succeeded",
        commit: "0123456789abcdef0123456789abcdef01234567",
        conflicts: ["notebook.ipynb"],
        message: "merged upstream; kept the local version of 1 file changed on both sides",
        finishedAt: "2026-01-02T03:04:09Z",
      },
    },
  };
}

/** A WorkspaceClass with every spec and status field set. */
export function sampleWorkspaceClass(name = "sample-class"): WorkspaceClass {
  return {
    apiVersion: API_VERSION,
    kind: "WorkspaceClass",
    metadata: { name },
    spec: {
      displayName: "JupyterLab",
      description: "Notebooks in Python.",
      image: "registry.example.com/ide/jupyterlab:4.4",
      imagePullPolicy: "IfNotPresent",
      port: 8888,
      command: ["jupyter-server"],
      args: ["--ServerApp.base_url={prefix}", "--ServerApp.ip=0.0.0.0"],
      env: [{ name: "JUPYTER_PORT", value: "8888" }],
      resources: { requests: { cpu: "250m", memory: "512Mi" }, limits: { memory: "2Gi" } },
      storage: { size: "5Gi", storageClassName: "standard", mountPath: "/home/jovyan" },
      idleTimeout: "2h",
      basePath: {
        stripPrefix: false,
        requestHeaders: [{ name: "X-Forwarded-Prefix", value: "{prefix}" }],
        rewriteLocation: true,
        rewriteCookiePath: true,
      },
      forwardToken: false,
      allowedOrigins: ["https://portal.example.com"],
      readinessPath: "{prefix}/api",
      git: { allowedProtocols: ["https", "ssh"] },
      bounds: { maxStorage: "50Gi", maxCpu: 4, maxMemory: "8Gi", maxIdleTimeout: "8h" },
      userLimits: { maxWorkspaces: 3, maxRunning: 1 },
      idle: {
        warnBefore: "5m",
        maxKeepAlive: "8h",
        ignoreWebSocketMessagesUpTo: 13,
        probe: {
          path: "{prefix}/api/status",
          lastActivityField: "last_activity",
          busy: { path: "{prefix}/api/kernels", field: "execution_state", value: "busy" },
          interval: "30s",
        },
      },
    },
    status: { observedGeneration: 1, conditions: [condition("Accepted")] },
  };
}

/** A GatewayRoute with every spec and status field set. */
export function sampleGatewayRoute(name = "sample-route"): GatewayRoute {
  return {
    apiVersion: API_VERSION,
    kind: "GatewayRoute",
    metadata: { name },
    spec: {
      hosts: ["api.example.com", "*.apps.example.com"],
      rules: [
        {
          name: "orders",
          matches: [
            {
              path: { type: "PathPrefix", value: "/orders" },
              methods: ["GET", "POST"],
              headers: [{ name: "X-Tenant", value: "^[a-z]+$", type: "RegularExpression" }],
            },
          ],
          backends: [
            { service: { name: "orders", port: 8080 }, weight: 9 },
            { url: "https://orders-canary.example.com/base", weight: 1 },
          ],
          loadBalancer: { strategy: "ConsistentHash", hashOn: { header: "X-User" } },
          rewrite: { stripPrefix: false, replacePrefix: "/v2" },
          requestHeaders: {
            set: [{ name: "X-Gateway", value: "portico" }],
            add: [{ name: "X-Trace", value: "on" }],
            remove: ["X-Internal"],
          },
          responseHeaders: {
            set: [{ name: "Cache-Control", value: "no-store" }],
            add: [{ name: "X-Served-By", value: "portico" }],
            remove: ["Server"],
          },
          timeouts: { request: "30s", idle: "5m", connect: "2s" },
          retries: { attempts: 2, retryOn: ["ConnectFailure", "GatewayError"], backoff: "100ms" },
          healthCheck: {
            active: {
              path: "/healthz",
              interval: "10s",
              timeout: "2s",
              healthyThreshold: 2,
              unhealthyThreshold: 3,
              expectedStatuses: [200, 204],
            },
            passive: { consecutiveErrors: 5, ejectionTime: "30s" },
          },
          circuitBreaker: { consecutiveFailures: 5, openDuration: "30s", halfOpenRequests: 1 },
          rateLimit: { requestsPerSecond: 100, burst: 200, key: "ClientIP" },
          maxBodyBytes: 1048576,
          websocket: false,
          forwardToken: false,
          users: ["alice"],
          groups: ["team-a"],
          public: false,
        },
        {
          name: "sessions",
          matches: [{ path: { type: "Exact", value: "/session" } }],
          backends: [{ service: { name: "sessions", port: 80 }, weight: 1 }],
          loadBalancer: { strategy: "ConsistentHash", hashOn: { cookie: "SESSION" } },
          websocket: true,
          forwardToken: true,
          public: true,
          allowedOrigins: ["https://portal.example.com", "http://localhost:3000"],
        },
      ],
    },
    status: {
      observedGeneration: 1,
      conditions: [condition("Accepted"), condition("ResolvedRefs")],
      backends: { total: 3, healthy: 3 },
    },
  };
}
