/**
 * The keep-alive's rule (issue 15), shared by the API (proxy/api/service.ts) and the in-workspace
 * listener (./workspace-listener.ts): a Go duration, at most the class's `idle.maxKeepAlive`; `0s`
 * cancels. Pure: the answer is the merge patch of the one annotation key, or what is wrong.
 */
import type { Workspace, WorkspaceClass } from "../../crds/types.ts";
import { KEEP_ALIVE_ANNOTATION, idleSettings, rfc3339 } from "../../common/model/workspace/lifecycle.ts";
import { formatDurationMs, parseDurationMs } from "../../common/runtime/settings.ts";

export type KeepAliveDecision =
  { patch: { metadata: { annotations: Record<string, string | null> } }; until?: string } | { error: string };

export function keepAliveDecision(
  ws: Workspace,
  cls: WorkspaceClass | undefined,
  duration: unknown,
  nowMs: number,
): KeepAliveDecision {
  const max = idleSettings(ws, cls).maxKeepAliveMs;
  const maxText = formatDurationMs(max);
  if (typeof duration !== "string" || duration.length > 32)
    return { error: `duration: a Go duration such as 30m or 3h (at most ${maxText}; 0s cancels)` };
  const ms = parseDurationMs(duration);
  if (ms === undefined)
    return {
      error: `duration: ${JSON.stringify(duration)} is not a Go duration such as 30m or 3h (at most ${maxText}; 0s cancels)`,
    };
  if (ms > max)
    return {
      error: `duration: ${duration} is longer than the class's maxKeepAlive ${maxText}; ask for at most ${maxText}`,
    };
  if (ms === 0) return { patch: { metadata: { annotations: { [KEEP_ALIVE_ANNOTATION]: null } } } };
  const until = rfc3339(nowMs + ms);
  return { patch: { metadata: { annotations: { [KEEP_ALIVE_ANNOTATION]: until } } }, until };
}
