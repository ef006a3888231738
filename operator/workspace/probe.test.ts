/**
 * The probe poller against a real local HTTP server: what it reads, what it refuses (redirects,
 * oversized and non-JSON answers, errors), that failures are never activity, and that it stops.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import type { Logger } from "../../common/runtime/log.ts";
import { realClock } from "../../common/runtime/types.ts";
import type { ProbeTarget } from "./probe-parse.ts";
import { ProbePoller, PROBE_MAX_BYTES } from "./probe.ts";

const quiet: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => quiet,
};
let server: Server;
let origin: string;
const hits = new Map<string, number>();
const OLD = "2026-12-05T06:15:50.518332Z";

before(async () => {
  server = createServer((req, res) => {
    hits.set(req.url ?? "/", (hits.get(req.url ?? "/") ?? 0) + 1);
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const json = (b: unknown) =>
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(b));
    if (path === "/status") return json({ last_activity: OLD });
    if (path === "/kernels/busy") return json([{ execution_state: "idle" }, { execution_state: "busy" }]);
    if (path === "/kernels/idle") return json([{ execution_state: "idle" }]);
    if (path === "/redirect") return res.writeHead(302, { location: "/status" }).end();
    if (path === "/huge") return res.writeHead(200).end(`"${"x".repeat(PROBE_MAX_BYTES + 10)}"`);
    if (path === "/text") return res.writeHead(200).end("<html>");
    return res.writeHead(500).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => server.close());

const target = (path: string, more: Partial<ProbeTarget> = {}): ProbeTarget => ({
  url: origin + path,
  lastActivityField: "last_activity",
  intervalMs: 20,
  stepMs: 1_000,
  podUid: "u1",
  ...more,
});

/** A poller whose changes and failures are recorded; resolves `next` on the first of either. */
function poller() {
  const changes: string[] = [];
  const failures: string[] = [];
  let wake: () => void = () => undefined;
  const p = new ProbePoller({
    clock: realClock,
    log: quiet,
    onChange: (ns, name) => {
      changes.push(`${ns}/${name}`);
      wake();
    },
    onFailure: (reason) => {
      failures.push(reason);
      wake();
    },
  });
  const next = () => new Promise<void>((r) => (wake = r));
  return { p, changes, failures, next };
}

test("reads the IDE's last activity and reports the change once", async () => {
  const { p, changes, next } = poller();
  const first = next();
  p.track("ns", "a", target("/status"));
  await first;
  assert.equal(p.activity("ns", "a"), Date.parse(OLD));
  assert.deepEqual(changes, ["ns/a"]);
  // Same answer at the next polls: no change reported.
  const before = hits.get("/status") ?? 0;
  while ((hits.get("/status") ?? 0) < before + 3) await new Promise((r) => setImmediate(r));
  assert.deepEqual(changes, ["ns/a"]);
  p.stop();
});

test("busy (on its own path) is activity at the poll's time", async () => {
  const { p, next } = poller();
  const first = next();
  const t0 = Date.now();
  p.track(
    "ns",
    "b",
    target("/status", {
      busyUrl: `${origin}/kernels/busy`,
      busy: { field: "execution_state", value: "busy" },
    }),
  );
  await first;
  assert.ok(p.activity("ns", "b")! >= t0, "the poll's time, not the old last_activity");
  p.stop();

  const idle = poller();
  const done = idle.next();
  idle.p.track(
    "ns",
    "c",
    target("/status", {
      busyUrl: `${origin}/kernels/idle`,
      busy: { field: "execution_state", value: "busy" },
    }),
  );
  await done;
  assert.equal(idle.p.activity("ns", "c"), Date.parse(OLD));
  idle.p.stop();
});

for (const [path, reason] of [
  ["/redirect", "http"],
  ["/huge", "body"],
  ["/text", "json"],
  ["/error", "http"],
] as const) {
  test(`${path}: a failure (${reason}), counted, never activity`, async () => {
    const { p, changes, failures, next } = poller();
    const first = next();
    p.track("ns", "d", target(path));
    await first;
    assert.deepEqual([failures[0], changes, p.activity("ns", "d")], [reason, [], undefined]);
    p.stop();
  });
}

test("a closed port is a network failure; untracking stops the polls", async () => {
  const { p, failures, next } = poller();
  const first = next();
  p.track("ns", "e", target("/status", { url: "http://127.0.0.1:1/status" }));
  await first;
  assert.equal(failures[0], "network");
  p.track("ns", "e", undefined);
  assert.equal(p.size(), 0);

  const polled = poller();
  const once = polled.next();
  polled.p.track("ns", "f", target("/status?f"));
  await once;
  polled.p.track("ns", "f", undefined);
  const stoppedAt = hits.get("/status?f") ?? 0;
  // Several intervals pass (another poller's polls count them): no poll of the untracked one.
  const clockwork = poller();
  clockwork.p.track("ns", "g", target("/status?g"));
  while ((hits.get("/status?g") ?? 0) < 5) await new Promise((res) => setTimeout(res, 5));
  clockwork.p.stop();
  assert.equal(hits.get("/status?f"), stoppedAt, "untracked: no more polls");
});

test("a pod that is not Ready yet is not polled; once its IDE answered, polls go on while readiness flaps", async () => {
  const waitHits = async (path: string, n: number) => {
    while ((hits.get(path) ?? 0) < n) await new Promise((res) => setTimeout(res, 5));
  };
  const { p, failures } = poller();
  p.track("ns", "h", target("/status?h", { ready: false }));
  // Another poller's polls measure the time: several intervals pass without a poll of the starting pod.
  const clock = poller();
  clock.p.track("ns", "i", target("/status?i"));
  await waitHits("/status?i", 5);
  assert.equal(hits.get("/status?h"), undefined, "not Ready, never answered: not polled");
  p.track("ns", "h", target("/status?h", { ready: true }));
  await waitHits("/status?h", 2);
  p.track("ns", "h", target("/status?h", { ready: false }));
  const before = hits.get("/status?h")!;
  await waitHits("/status?h", before + 3);
  clock.p.stop();
  p.stop();
  assert.deepEqual(failures, [], "a starting IDE costs no failure");
});
