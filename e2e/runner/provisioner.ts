/**
 * A local-directory volume provisioner, the part of the runner that plays a CSI driver: each
 * PersistentVolumeClaim of a StorageClass whose provisioner is `portico.dev/local-dir` gets a
 * hostPath PersistentVolume on a directory that outlives every pod using it. The PV controller in
 * kube-controller-manager then binds claim and volume as it would in any cluster; when a claim is
 * deleted and its volume has reclaim policy Delete, the directory and the volume go.
 */
import type { V1PersistentVolume, V1PersistentVolumeClaim } from "@kubernetes/client-node";

export const PROVISIONER = "portico.dev/local-dir";
const PROVISIONED_BY = "pv.kubernetes.io/provisioned-by";

/** The claim wants a volume from us: pending, unbound, and handed to our provisioner. */
export function wantsVolume(
  pvc: V1PersistentVolumeClaim,
  provisionerOfClass: (cls: string) => string | undefined,
): boolean {
  if (pvc.metadata?.deletionTimestamp || pvc.spec?.volumeName) return false;
  const ann = pvc.metadata?.annotations ?? {};
  const named =
    ann["volume.kubernetes.io/storage-provisioner"] ?? ann["volume.beta.kubernetes.io/storage-provisioner"];
  const cls = pvc.spec?.storageClassName;
  return (named ?? (cls ? provisionerOfClass(cls) : undefined)) === PROVISIONER;
}

/** Name of the volume for a claim: stable, so a crash between create and bind cannot make two. */
export function volumeNameFor(pvc: V1PersistentVolumeClaim): string {
  return `pvc-${pvc.metadata?.uid ?? "unknown"}`;
}

/** The PersistentVolume that satisfies a claim, on `dir`. */
export function buildVolume(
  pvc: V1PersistentVolumeClaim,
  dir: string,
  reclaimPolicy: string,
): V1PersistentVolume {
  return {
    apiVersion: "v1",
    kind: "PersistentVolume",
    metadata: { name: volumeNameFor(pvc), annotations: { [PROVISIONED_BY]: PROVISIONER } },
    spec: {
      capacity: { storage: pvc.spec?.resources?.requests?.storage ?? "1Gi" },
      accessModes: pvc.spec?.accessModes ?? ["ReadWriteOnce"],
      persistentVolumeReclaimPolicy: reclaimPolicy,
      storageClassName: pvc.spec?.storageClassName ?? "",
      volumeMode: pvc.spec?.volumeMode ?? "Filesystem",
      claimRef: {
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        namespace: pvc.metadata?.namespace,
        name: pvc.metadata?.name,
        uid: pvc.metadata?.uid,
      },
      hostPath: { path: dir, type: "DirectoryOrCreate" },
    },
  };
}

/** A volume of ours whose claim is gone and whose policy says its data goes too. */
export function shouldDelete(pv: V1PersistentVolume): boolean {
  return (
    pv.metadata?.annotations?.[PROVISIONED_BY] === PROVISIONER &&
    pv.status?.phase === "Released" &&
    pv.spec?.persistentVolumeReclaimPolicy === "Delete" &&
    !pv.metadata?.deletionTimestamp
  );
}
