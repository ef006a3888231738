import { test } from "node:test";
import assert from "node:assert/strict";
import {
  computePodStatus,
  terminationMessage,
  statusKey,
  withTransitionTimes,
  type ContainerRuntime,
  type PodRuntime,
} from "./podstatus.ts";

const pod = { spec: { containers: [{ name: "ide" }] } };
const t0 = new Date("2026-01-01T00:00:00Z");
const c = (over: Partial<ContainerRuntime>): ContainerRuntime => ({
  name: "ide",
  image: "img",
  state: "waiting",
  restartCount: 0,
  ready: false,
  ...over,
});
const rt = (over: Partial<PodRuntime>): PodRuntime => ({
  podIP: "198.18.128.1",
  hostIP: "198.18.0.10",
  startTime: t0,
  init: [],
  main: [c({})],
  ...over,
});
const cond = (s: ReturnType<typeof computePodStatus>, type: string) =>
  s.conditions?.find((x) => x.type === type)?.status;

test("while an init container runs the pod is Pending, not Initialized and not Ready", () => {
  const s = computePodStatus(
    pod,
    rt({
      init: [c({ name: "git-clone", state: "running", startedAt: t0 })],
      main: [c({ reason: "PodInitializing" })],
    }),
  );
  assert.equal(s.phase, "Pending");
  assert.equal(cond(s, "Initialized"), "False");
  assert.equal(cond(s, "Ready"), "False");
  assert.equal(s.initContainerStatuses?.[0]?.state?.running?.startedAt, t0);
  assert.equal(s.containerStatuses?.[0]?.state?.waiting?.reason, "PodInitializing");
});

test("a running container is Running; Ready only once its probe passed", () => {
  const running = computePodStatus(pod, rt({ main: [c({ state: "running", startedAt: t0 })] }));
  assert.equal(running.phase, "Running");
  assert.equal(cond(running, "Ready"), "False");
  const ready = computePodStatus(pod, rt({ main: [c({ state: "running", startedAt: t0, ready: true })] }));
  assert.equal(cond(ready, "Ready"), "True");
  assert.equal(cond(ready, "ContainersReady"), "True");
});

test("an image that cannot be run is waiting with ErrImagePull and its message", () => {
  const s = computePodStatus(pod, rt({ main: [c({ reason: "ErrImagePull", message: "no such image" })] }));
  assert.equal(s.phase, "Pending");
  assert.deepEqual(s.containerStatuses?.[0]?.state?.waiting, {
    reason: "ErrImagePull",
    message: "no such image",
  });
});

test("a failed init container shows terminated with its exit code", () => {
  const s = computePodStatus(
    pod,
    rt({ init: [c({ name: "git-clone", state: "terminated", exitCode: 128, message: "fatal" })] }),
  );
  assert.equal(s.initContainerStatuses?.[0]?.state?.terminated?.exitCode, 128);
  assert.equal(s.initContainerStatuses?.[0]?.state?.terminated?.reason, "Error");
  assert.equal(cond(s, "Initialized"), "False");
});

test("transition times are kept for unchanged conditions and the key ignores times", () => {
  const a = withTransitionTimes(computePodStatus(pod, rt({})), undefined, t0);
  const later = new Date("2026-01-01T00:01:00Z");
  const b = withTransitionTimes(
    computePodStatus(pod, rt({ main: [c({ state: "running", startedAt: t0, ready: true })] })),
    a,
    later,
  );
  assert.equal(b.conditions?.find((x) => x.type === "PodScheduled")?.lastTransitionTime, t0);
  assert.equal(b.conditions?.find((x) => x.type === "Ready")?.lastTransitionTime, later);
  assert.equal(statusKey(a), statusKey(withTransitionTimes(computePodStatus(pod, rt({})), undefined, later)));
  assert.notEqual(statusKey(a), statusKey(b));
});

test("a termination message is the file's content (at most 4096 bytes), else the fallback", () => {
  assert.equal(terminationMessage(Buffer.from('{"reason":"Merged"}'), "log tail"), '{"reason":"Merged"}');
  assert.equal(terminationMessage(Buffer.alloc(5000, "x"), undefined)?.length, 4096);
  assert.equal(terminationMessage(Buffer.alloc(0), "log tail"), "log tail");
  assert.equal(terminationMessage(undefined, undefined), undefined);
});
