import assert from "node:assert/strict";
import { test } from "node:test";
import type { RouteRule } from "../../../crds/types.ts";
import {
  resolveServiceBackend,
  ruleEndpoints,
  SERVICE_NAME_LABEL,
  urlBackend,
  type ClusterView,
  type EndpointSliceLike,
  type ServiceLike,
} from "./endpoints.ts";

const svc = (name: string, ports: { name?: string; port: number }[]): ServiceLike => ({
  metadata: { name, namespace: "ns" },
  spec: { ports },
});
const slice = (
  service: string,
  ports: { name?: string; port: number }[],
  endpoints: [string, boolean | undefined][],
): EndpointSliceLike => ({
  metadata: { namespace: "ns", labels: { [SERVICE_NAME_LABEL]: service } },
  ports,
  endpoints: endpoints.map(([ip, ready]) => ({
    addresses: [ip],
    conditions: ready === undefined ? {} : { ready },
  })),
});

function view(services: ServiceLike[], slices: EndpointSliceLike[]): ClusterView {
  return {
    service: (ns, name) => services.find((s) => s.metadata?.namespace === ns && s.metadata?.name === name),
    slices: (ns, name) =>
      slices.filter((s) => s.metadata?.namespace === ns && s.metadata?.labels?.[SERVICE_NAME_LABEL] === name),
  };
}

const cluster = view(
  [
    svc("api", [
      { name: "http", port: 80 },
      { name: "admin", port: 9000 },
    ]),
    svc("plain", [{ port: 8080 }]),
  ],
  [
    // Two slices of one Service; ports by name, the target port resolved per slice.
    slice(
      "api",
      [
        { name: "http", port: 8080 },
        { name: "admin", port: 9090 },
      ],
      [
        ["198.18.1.1", true],
        ["198.18.1.2", false],
      ],
    ),
    slice("api", [{ name: "http", port: 8080 }], [["198.18.1.3", undefined]]),
    slice("plain", [{ port: 3000 }], [["fd00::1", true]]),
  ],
);

test("a Service backend: ready endpoints at the port the Service port's name resolves to", () => {
  assert.deepEqual(resolveServiceBackend("ns", { name: "api", port: 80 }, cluster), {
    ok: true,
    ready: ["198.18.1.1:8080", "198.18.1.3:8080"],
    total: 3,
  });
  assert.deepEqual(resolveServiceBackend("ns", { name: "api", port: 9000 }, cluster), {
    ok: true,
    ready: ["198.18.1.1:9090"],
    total: 2,
  });
  // An unnamed port, and an IPv6 address bracketed.
  assert.deepEqual(resolveServiceBackend("ns", { name: "plain", port: 8080 }, cluster), {
    ok: true,
    ready: ["[fd00::1]:3000"],
    total: 1,
  });
});

test("a missing Service or port says which", () => {
  const missing = resolveServiceBackend("ns", { name: "nope", port: 80 }, cluster);
  assert.deepEqual(missing, {
    ok: false,
    reason: "BackendNotFound",
    message: "Service ns/nope does not exist",
  });
  const port = resolveServiceBackend("ns", { name: "api", port: 81 }, cluster);
  assert.equal(port.ok, false);
  assert.equal(!port.ok && port.reason, "PortNotFound");
  assert.match(!port.ok ? port.message : "", /no port 81 \(it has: 80, 9000\)/);
  assert.equal(resolveServiceBackend("other", { name: "api", port: 80 }, cluster).ok, false, "namespaced");
});

test("a rule's endpoints share their backend's weight; URL backends are one endpoint each", () => {
  const rule: RouteRule = {
    backends: [
      { service: { name: "api", port: 80 }, weight: 3 },
      { url: "http://198.18.2.1:8080/base/", weight: 1 },
      { service: { name: "nope", port: 80 } },
    ],
  };
  assert.deepEqual(ruleEndpoints("ns", rule, cluster), [
    { id: "198.18.1.1:8080", origin: "http://198.18.1.1:8080", basePath: "", backend: 0, weight: 1.5 },
    { id: "198.18.1.3:8080", origin: "http://198.18.1.3:8080", basePath: "", backend: 0, weight: 1.5 },
    {
      id: "http://198.18.2.1:8080/base",
      origin: "http://198.18.2.1:8080",
      basePath: "/base",
      backend: 1,
      weight: 1,
    },
  ]);
  assert.deepEqual(urlBackend("https://api.example.com"), {
    origin: "https://api.example.com",
    basePath: "",
  });
});
