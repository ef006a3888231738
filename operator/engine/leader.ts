/**
 * Leader election on a `coordination.k8s.io/v1` Lease, like client-go's leaderelection: only the
 * replica holding the Lease reconciles. The decision (acquire, renew or wait) is the pure function
 * `decide`; `LeaderElector` does the I/O and the timing around it.
 *
 * Expiry is judged from the Lease's own `renewTime` against this replica's clock, so replicas'
 * clocks must agree to well within `leaseDurationMs - renewDeadlineMs` (NTP does that in practice).
 */
import { V1MicroTime, type CoordinationV1Api, type V1Lease, type V1LeaseSpec } from "@kubernetes/client-node";
import { noopLogger, realClock, type Clock, type Logger } from "../../common/runtime/types.ts";

/** What this replica should do about the Lease. */
export type Decision =
  | { action: "acquire" | "renew"; spec: V1LeaseSpec }
  | { action: "wait"; holder: string; expiresAtMs: number };

/**
 * Decides, from the Lease as read (undefined: it does not exist), whether `identity` may take it
 * ("acquire": absent, released, or expired), keeps it ("renew": it holds it) or must wait for
 * `holder`. For acquire/renew, `spec` is the Lease spec to write.
 */
export function decide(
  lease: V1Lease | undefined,
  me: { identity: string; leaseDurationMs: number },
  nowMs: number,
): Decision {
  const now = microTime(nowMs);
  const leaseDurationSeconds = Math.max(1, Math.ceil(me.leaseDurationMs / 1000));
  const spec = lease?.spec ?? {};
  const holder = spec.holderIdentity ?? "";

  if (holder === me.identity) {
    return {
      action: "renew",
      spec: {
        ...spec,
        holderIdentity: me.identity,
        leaseDurationSeconds,
        renewTime: now,
        acquireTime: spec.acquireTime ?? now,
      },
    };
  }
  if (holder !== "") {
    const expiresAtMs = leaseExpiresAtMs(spec, me.leaseDurationMs);
    if (expiresAtMs >= nowMs) return { action: "wait", holder, expiresAtMs };
  }
  return {
    action: "acquire",
    spec: {
      ...spec,
      holderIdentity: me.identity,
      leaseDurationSeconds,
      acquireTime: now,
      renewTime: now,
      // A new Lease starts at 0; every change of holder (including from "released") counts one.
      leaseTransitions: lease ? (spec.leaseTransitions ?? 0) + 1 : 0,
    },
  };
}

/**
 * When a held Lease expires: `renewTime + leaseDurationSeconds`. A Lease without a duration uses
 * ours; one with no renew or acquire time is treated as already expired.
 */
export function leaseExpiresAtMs(spec: V1LeaseSpec, fallbackDurationMs: number): number {
  const renewed = parseTimeMs(spec.renewTime ?? spec.acquireTime);
  if (renewed === undefined) return Number.NEGATIVE_INFINITY;
  const durationMs =
    spec.leaseDurationSeconds && spec.leaseDurationSeconds > 0
      ? spec.leaseDurationSeconds * 1000
      : fallbackDurationMs;
  return renewed + durationMs;
}

/**
 * The spec that releases a Lease held by us: no holder, so any replica may take it at once.
 * (client-go also shortens the duration to 1 s, for candidates that ignore an empty holder.)
 */
export function releasedSpec(spec: V1LeaseSpec, nowMs: number): V1LeaseSpec {
  const { holderIdentity: _released, ...rest } = spec;
  return { ...rest, leaseDurationSeconds: 1, renewTime: microTime(nowMs) };
}

/**
 * A Kubernetes MicroTime (`2006-01-02T15:04:05.000000Z`). The API server rejects other layouts for
 * Lease times; client-node's V1MicroTime serialises that way through `toJSON`.
 */
export function microTime(ms: number): V1MicroTime {
  return new V1MicroTime(ms);
}

/** Reads a time the client returns: client-node types it as a Date but hands back the JSON string. */
export function parseTimeMs(v: Date | string | undefined): number | undefined {
  if (v === undefined || v === null) return undefined;
  const ms = v instanceof Date ? v.getTime() : Date.parse(v);
  return Number.isNaN(ms) ? undefined : ms;
}

/** The Lease calls the elector makes (a `CoordinationV1Api` satisfies it). */
export type LeaseApi = Pick<
  CoordinationV1Api,
  "readNamespacedLease" | "createNamespacedLease" | "replaceNamespacedLease"
>;

export interface LeaderElectorOptions {
  api: LeaseApi;
  leaseName: string;
  leaseNamespace: string;
  /** Unique per replica (e.g. pod name). */
  identity: string;
  /** How long a Lease stays valid after its last renewal. */
  leaseDurationMs: number;
  /** The leader gives up if it has not renewed for this long (must be < leaseDurationMs). */
  renewDeadlineMs: number;
  /** How often to try to acquire, and to renew (must be < renewDeadlineMs). */
  retryPeriodMs: number;
  clock?: Clock;
  logger?: Logger;
}

export interface LeaderCallbacks {
  /** This replica now leads: start reconciling. */
  onStartedLeading: () => void;
  /**
   * Leadership was lost (not renewed within renewDeadline, or another holder seen). The caller
   * should exit the process, as controller-runtime does, so two replicas never both act.
   * Not called after `stop()`.
   */
  onStoppedLeading: () => void;
}

/** Why a 409 Conflict matters: someone else wrote the Lease since we read it. */
const CONFLICT = 409;
const NOT_FOUND = 404;

/**
 * Campaigns for a Lease and keeps it. One `run` per elector: it tries every retryPeriod until it
 * leads, then renews every retryPeriod until it is stopped or loses the Lease; after a loss it does
 * not campaign again.
 */
export class LeaderElector {
  private readonly o: Required<LeaderElectorOptions>;
  private leading = false;
  private stopped = false;
  private wake: (() => void) | undefined;
  private deadline: unknown;
  private loop: Promise<void> | undefined;
  /** The Lease as we last wrote it: release uses its resourceVersion. */
  private last: V1Lease | undefined;
  /** Holder seen by the last attempt, when it was someone else. */
  private heldByOther: string | undefined;

  constructor(options: LeaderElectorOptions) {
    const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = options;
    if (!(retryPeriodMs > 0 && retryPeriodMs < renewDeadlineMs && renewDeadlineMs < leaseDurationMs)) {
      throw new Error(
        `LeaderElector: need 0 < retryPeriodMs (${retryPeriodMs}) < renewDeadlineMs (${renewDeadlineMs}) < leaseDurationMs (${leaseDurationMs})`,
      );
    }
    if (!options.identity) throw new Error("LeaderElector: identity must not be empty");
    this.o = { ...options, clock: options.clock ?? realClock, logger: options.logger ?? noopLogger };
  }

  /** True while this replica holds the Lease (as last renewed within renewDeadline). */
  isLeader(): boolean {
    return this.leading;
  }

  /**
   * Starts campaigning. The returned promise resolves when the elector is done: after `stop()`,
   * or after leadership was lost (`onStoppedLeading` has then been called).
   */
  run(callbacks: LeaderCallbacks): Promise<void> {
    if (this.loop) throw new Error("LeaderElector: run() was already called");
    this.loop = this.campaign(callbacks);
    return this.loop;
  }

  /**
   * Stops campaigning and, if our last write made us the holder, releases the Lease so another
   * replica takes over at once. Resolves when done; a failed release is logged, not thrown.
   */
  async stop(): Promise<void> {
    this.halt();
    await this.loop;
    await this.release();
  }

  /** For tests: stops at once without releasing, as if the process had crashed. */
  kill(): void {
    this.halt();
  }

  private halt(): void {
    this.stopped = true;
    this.leading = false;
    this.o.clock.clearTimeout(this.deadline);
    this.wake?.();
  }

  private async campaign(cb: LeaderCallbacks): Promise<void> {
    const { logger, retryPeriodMs, leaseName, leaseNamespace, identity } = this.o;
    const lease = `${leaseNamespace}/${leaseName}`;
    while (!this.stopped && !this.leading) {
      const at = await this.tryAcquireOrRenew();
      if (this.stopped) return;
      if (at !== undefined) {
        this.leading = true;
        this.armDeadline(at, cb);
        logger.info("leader election: became leader", { lease, identity });
        safely(logger, "onStartedLeading", cb.onStartedLeading);
        break;
      }
      await this.sleep(retryPeriodMs);
    }
    while (!this.stopped && this.leading) {
      await this.sleep(retryPeriodMs);
      if (this.stopped || !this.leading) return;
      const at = await this.tryAcquireOrRenew();
      if (this.stopped || !this.leading) return;
      if (at !== undefined) this.armDeadline(at, cb);
      else if (this.heldByOther) this.lose(cb, `the Lease is now held by ${this.heldByOther}`);
      // Other failures: keep trying every retryPeriod until the deadline timer fires.
    }
  }

  /** The renew deadline runs from the renewTime we last wrote, whatever the API calls are doing. */
  private armDeadline(renewedAtMs: number, cb: LeaderCallbacks): void {
    const { clock, renewDeadlineMs } = this.o;
    clock.clearTimeout(this.deadline);
    const ms = Math.max(0, renewedAtMs + renewDeadlineMs - clock.now());
    this.deadline = clock.setTimeout(() => this.lose(cb, `not renewed within ${renewDeadlineMs} ms`), ms);
  }

  private lose(cb: LeaderCallbacks, why: string): void {
    if (!this.leading || this.stopped) return;
    this.o.logger.error("leader election: lost the Lease", {
      lease: `${this.o.leaseNamespace}/${this.o.leaseName}`,
      identity: this.o.identity,
      why,
    });
    this.halt();
    safely(this.o.logger, "onStoppedLeading", cb.onStoppedLeading);
  }

  /**
   * One attempt: read, decide, write. Returns the time written as renewTime on success, undefined
   * otherwise. On 409 it re-reads once, since the write that beat us may have been harmless.
   */
  private async tryAcquireOrRenew(): Promise<number | undefined> {
    const {
      api,
      clock,
      logger,
      leaseName: name,
      leaseNamespace: namespace,
      identity,
      leaseDurationMs,
    } = this.o;
    for (let attempt = 0; attempt < 2; attempt++) {
      let current: V1Lease | undefined;
      try {
        current = await api.readNamespacedLease({ name, namespace });
      } catch (err) {
        if (statusOf(err) !== NOT_FOUND) {
          logger.warn("leader election: cannot read the Lease", {
            lease: `${namespace}/${name}`,
            err: describe(err),
          });
          return undefined;
        }
      }
      if (this.stopped) return undefined;
      const now = clock.now();
      const d = decide(current, { identity, leaseDurationMs }, now);
      if (d.action === "wait") {
        this.heldByOther = d.holder;
        return undefined;
      }
      this.heldByOther = undefined;
      try {
        this.last = current
          ? await api.replaceNamespacedLease({ name, namespace, body: { ...current, spec: d.spec } })
          : await api.createNamespacedLease({
              namespace,
              body: {
                apiVersion: "coordination.k8s.io/v1",
                kind: "Lease",
                metadata: { name, namespace },
                spec: d.spec,
              },
            });
        if (d.action === "acquire")
          logger.debug("leader election: acquired the Lease", { lease: `${namespace}/${name}` });
        return now;
      } catch (err) {
        // 409 on create: another replica created it first. On replace: someone wrote since our read.
        if (statusOf(err) === CONFLICT) continue;
        logger.warn("leader election: cannot write the Lease", {
          lease: `${namespace}/${name}`,
          err: describe(err),
        });
        return undefined;
      }
    }
    return undefined;
  }

  /** Clears the holder if it is still us; a failure only means the Lease expires on its own. */
  private async release(): Promise<void> {
    const { api, clock, logger, leaseName: name, leaseNamespace: namespace, identity } = this.o;
    let current = this.last;
    for (let attempt = 0; attempt < 2 && current; attempt++) {
      if (current.spec?.holderIdentity !== identity) return;
      try {
        await api.replaceNamespacedLease({
          name,
          namespace,
          body: { ...current, spec: releasedSpec(current.spec, clock.now()) },
        });
        logger.info("leader election: released the Lease", { lease: `${namespace}/${name}`, identity });
        this.last = undefined;
        return;
      } catch (err) {
        if (statusOf(err) !== CONFLICT) {
          logger.warn("leader election: cannot release the Lease", {
            lease: `${namespace}/${name}`,
            err: describe(err),
          });
          return;
        }
        current = await api.readNamespacedLease({ name, namespace }).catch(() => undefined);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const handle = this.o.clock.setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        this.o.clock.clearTimeout(handle);
        this.wake = undefined;
        resolve();
      };
    });
  }
}

function safely(logger: Logger, name: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    logger.error(`leader election: ${name} threw`, { err: describe(err) });
  }
}

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "number" ? code : undefined;
}

function describe(err: unknown): string {
  const e = err as { code?: number; message?: string };
  return e?.code ? `${e.code} ${e.message ?? ""}`.trim() : String(e?.message ?? err);
}
