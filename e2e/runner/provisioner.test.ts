import { test } from "node:test";
import assert from "node:assert/strict";
import { buildVolume, shouldDelete, volumeNameFor, wantsVolume, PROVISIONER } from "./provisioner.ts";

const pvc = {
  metadata: { name: "home", namespace: "a", uid: "u-1", annotations: {} as Record<string, string> },
  spec: {
    storageClassName: "local-dir",
    accessModes: ["ReadWriteOnce"],
    resources: { requests: { storage: "2Gi" } },
  },
};
const classes = (c: string) => (c === "local-dir" ? PROVISIONER : "other");

test("a pending claim of our class wants a volume; bound, deleting or foreign ones do not", () => {
  assert.equal(wantsVolume(pvc, classes), true);
  assert.equal(wantsVolume({ ...pvc, spec: { ...pvc.spec, volumeName: "pv" } }, classes), false);
  assert.equal(wantsVolume({ ...pvc, spec: { ...pvc.spec, storageClassName: "gp3" } }, classes), false);
  assert.equal(
    wantsVolume({ ...pvc, metadata: { ...pvc.metadata, deletionTimestamp: new Date() } }, classes),
    false,
  );
});

test("the PV binds to exactly this claim, with its size, modes and a stable name", () => {
  const pv = buildVolume(pvc, "/v/pvc-u-1", "Delete");
  assert.equal(pv.metadata?.name, volumeNameFor(pvc));
  assert.equal(pv.spec?.capacity?.storage, "2Gi");
  assert.deepEqual(pv.spec?.claimRef?.uid, "u-1");
  assert.equal(pv.spec?.hostPath?.path, "/v/pvc-u-1");
  assert.equal(pv.spec?.persistentVolumeReclaimPolicy, "Delete");
});

test("only our released volumes with policy Delete are deleted", () => {
  const pv = buildVolume(pvc, "/v", "Delete");
  assert.equal(shouldDelete({ ...pv, status: { phase: "Bound" } }), false);
  assert.equal(shouldDelete({ ...pv, status: { phase: "Released" } }), true);
  const retained = buildVolume(pvc, "/v", "Retain");
  assert.equal(shouldDelete({ ...retained, status: { phase: "Released" } }), false);
});
