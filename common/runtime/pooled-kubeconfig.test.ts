import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createSecureServer, type Http2SecureServer } from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { PooledKubeConfig } from "./pooled-kubeconfig.ts";

/** A TLS "API server" on loopback that answers every request with an empty ConfigMap list. */
async function fakeApiServer() {
  const dir = mkdtempSync(join(tmpdir(), "pooled-kc-"));
  execFileSync(
    "openssl",
    [
      "req",
      ...["-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"],
      ...["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
      ...["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")],
    ],
    { stdio: "ignore" },
  );
  const cert = readFileSync(join(dir, "cert.pem"), "utf8");
  const key = readFileSync(join(dir, "key.pem"), "utf8");
  rmSync(dir, { recursive: true });
  let connections = 0;
  const server: Http2SecureServer = createSecureServer({ cert, key, allowHTTP1: true }, (_req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ kind: "ConfigMapList", apiVersion: "v1", metadata: {}, items: [] }));
  });
  server.on("secureConnection", () => connections++);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return { server, cert, url: `https://127.0.0.1:${port}`, connections: () => connections };
}

function load<T extends k8s.KubeConfig>(kc: T, server: string, ca: string): T {
  kc.loadFromOptions({
    clusters: [{ name: "c", server, caData: Buffer.from(ca).toString("base64") }],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "ctx", cluster: "c", user: "u" }],
    currentContext: "ctx",
  });
  return kc;
}

describe("PooledKubeConfig", () => {
  let api: Awaited<ReturnType<typeof fakeApiServer>>;
  before(async () => (api = await fakeApiServer()));
  after(() => api.server.close());

  test("many requests, concurrent and sequential, share one TLS connection", async () => {
    const kc = load(new PooledKubeConfig(), api.url, api.cert);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const before = api.connections();
    await Promise.all(Array.from({ length: 20 }, () => core.listNamespacedConfigMap({ namespace: "a" })));
    for (let i = 0; i < 10; i++) await core.listNamespacedConfigMap({ namespace: "a" });
    assert.equal(api.connections() - before, 1);
    await kc.close();
  });

  test("the bearer token is still applied per request", async () => {
    const kc = load(new PooledKubeConfig(), api.url, api.cert);
    const ctx = new k8s.RequestContext(`${api.url}/api/v1/namespaces`, k8s.HttpMethod.GET);
    await kc.applySecurityAuthentication(ctx);
    assert.equal(ctx.getHeaders()["Authorization"], "Bearer t");
    await kc.close();
  });

  test("for contrast: client-node's own KubeConfig opens a connection per request", async () => {
    // If this starts failing, client-node pools by itself and PooledKubeConfig can go.
    const kc = load(new k8s.KubeConfig(), api.url, api.cert);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const before = api.connections();
    for (let i = 0; i < 5; i++) await core.listNamespacedConfigMap({ namespace: "a" });
    assert.equal(api.connections() - before, 5);
  });
});
