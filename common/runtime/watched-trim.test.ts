/**
 * `trim` in a Watched cache, end to end through client-node's real ListWatch and Watch against a
 * local HTTP server speaking the list and watch protocol: listed and watched objects are both
 * trimmed, and the informer's own cache holds the trimmed copies too.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import * as k8s from "@kubernetes/client-node";
import { Watched, type Trim } from "./watched.ts";

type Cm = k8s.V1ConfigMap;
const cm = (name: string, rv: string): Cm => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: "demo", resourceVersion: rv, managedFields: [{ manager: "kubectl" }] },
  data: { big: "x".repeat(1000) },
});
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
const trim: Trim<Cm> = (o) => ({
  apiVersion: o.apiVersion,
  kind: o.kind,
  metadata: { ...o.metadata, managedFields: undefined },
});

test("listed and watched objects enter the cache trimmed; the informer keeps the trimmed ones", async () => {
  let watchStream: ServerResponse | undefined;
  const watching = deferred();
  const server = createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    if (req.url?.includes("watch=true")) {
      watchStream = res;
      res.flushHeaders();
      watching.resolve();
      return;
    }
    res.end(
      JSON.stringify({ kind: "ConfigMapList", metadata: { resourceVersion: "1" }, items: [cm("a", "1")] }),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: url, skipTLSVerify: true }],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  const seen: Cm[] = [];
  const added = deferred();
  const w = new Watched<Cm>({
    name: "configmaps",
    path: "/api/v1/namespaces/demo/configmaps",
    list: async () =>
      (await (
        await fetch(`${url}/api/v1/namespaces/demo/configmaps`)
      ).json()) as k8s.KubernetesListObject<Cm>,
    kubeConfig: kc,
    silenceMs: 60_000,
    trim,
    onAdd: (o) => {
      seen.push(o);
      if (o.metadata?.name === "b") added.resolve();
    },
  });
  await w.start();
  await watching.promise;
  watchStream!.write(JSON.stringify({ type: "ADDED", object: cm("b", "2") }) + "\n");
  await added.promise;

  for (const name of ["a", "b"]) {
    const cached = w.get(name, "demo");
    assert.equal(cached?.metadata?.managedFields, undefined, `${name}: managedFields left out`);
    assert.equal((cached as Cm).data, undefined, `${name}: data left out`);
  }
  assert.ok(seen.every((o) => o.metadata?.managedFields === undefined && !o.data));
  // The informer's own cache (client-node's ListWatch) holds the same trimmed objects, not the full ones.
  const informer = (w as unknown as { informer: k8s.ListWatch<Cm> }).informer;
  assert.equal(informer.get("b", "demo"), w.get("b", "demo"));
  assert.equal(informer.get("a", "demo"), w.get("a", "demo"));

  await w.stop();
  watchStream?.end();
  server.closeAllConnections();
  server.close();
});
