/**
 * The watched caches /ws/watch adds to the proxy's (only when the console is on): Portico's pods
 * (the operator's child label selector: workspace and sync pods) and Events, both cluster-wide as the
 * Workspace cache is, both trimmed to the items the console shows (watch-views.ts). Each list reports
 * its resourceVersion to the hub first (a relist restarts the channel's history coverage).
 */
import type { KubeConfig, KubernetesListObject, KubernetesObject } from "@kubernetes/client-node";
import { listRaw, type WatchSpec } from "../../common/runtime/bootstrap.ts";
import type { Watched } from "../../common/runtime/watched.ts";
import { CHILD_LABEL_SELECTOR } from "../../common/model/workspace/names.ts";
import type { Channel } from "./protocol.ts";
import type { WatchHub } from "./watch-hub.ts";
import { trimEvent, trimPod, type TrimmedEvent, type TrimmedPod } from "./watch-views.ts";

type Watcher = <T extends KubernetesObject>(spec: WatchSpec<T>) => Watched<T>;

/** `list` that tells the hub the resourceVersion of every answer before the cache applies it. */
export function reportingList<T extends KubernetesObject>(
  list: () => Promise<KubernetesListObject<T>>,
  hub: () => WatchHub | undefined,
  channel: Channel,
): () => Promise<KubernetesListObject<T>> {
  return async () => {
    const answer = await list();
    hub()?.listed(channel, answer.metadata?.resourceVersion);
    return answer;
  };
}

export function watchCaches(
  watch: Watcher,
  kc: KubeConfig,
  hub: () => WatchHub | undefined,
): { pods: Watched<TrimmedPod>; events: Watched<TrimmedEvent> } {
  const pods = watch<TrimmedPod>({
    name: "console-pods",
    path: "/api/v1/pods",
    labelSelector: CHILD_LABEL_SELECTOR,
    list: reportingList(listRaw<TrimmedPod>(kc, "/api/v1/pods", CHILD_LABEL_SELECTOR), hub, "pods"),
    trim: (p) => trimPod(p),
    onChange: (p, old) => hub()?.podChanged(p, old),
  });
  const events = watch<TrimmedEvent>({
    name: "console-events",
    path: "/api/v1/events",
    list: reportingList(listRaw<TrimmedEvent>(kc, "/api/v1/events"), hub, "events"),
    trim: (e) => trimEvent(e),
    onChange: (e, old) => hub()?.eventChanged(e, old),
  });
  return { pods, events };
}
