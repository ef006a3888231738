/**
 * Endpoint health and circuit breaking for GatewayRoute rules.
 *
 * `EndpointHealth` and `CircuitBreaker` are pure state machines: callers pass the time (`now`, in ms)
 * and they keep no timers, so every transition is tested with plain numbers. `ActiveProber` is the one
 * part with side effects: it runs the HTTP probes on a schedule and reports each result.
 */
import { request } from "undici";
import type {
  ActiveHealthCheck,
  CircuitBreaker as CircuitBreakerSpec,
  Duration,
  HealthCheck,
  PassiveHealthCheck,
} from "../../crds/types.ts";
import { realClock, type Clock } from "../../common/runtime/types.ts";
import { parseDurationMs } from "../../common/runtime/settings.ts";

/** A duration field in ms, or `def` when absent (or malformed, which the schema already refuses). */
const ms = (d: Duration | undefined, def: number): number =>
  d === undefined ? def : (parseDurationMs(d) ?? def);

/** Whether a probe's status counts as healthy: one of `expected`, or any 2xx/3xx when none are listed. */
export function isExpectedStatus(status: number, expected?: readonly number[]): boolean {
  return expected && expected.length > 0 ? expected.includes(status) : status >= 200 && status < 400;
}

/** An active check with its defaults filled in and durations in ms. */
export interface ActiveSettings {
  path: string;
  intervalMs: number;
  /** Never above `intervalMs`. */
  timeoutMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  /** Undefined: any 2xx or 3xx. */
  expectedStatuses?: readonly number[];
}

/** A passive check with its defaults filled in. */
export interface PassiveSettings {
  consecutiveErrors: number;
  ejectionTimeMs: number;
}

/** Defaults from the CRD: probe `/` every 10s with a 2s timeout; 2 up, 3 down. */
export function activeSettings(a: ActiveHealthCheck): ActiveSettings {
  const intervalMs = ms(a.interval, 10_000);
  return {
    path: a.path ?? "/",
    intervalMs,
    timeoutMs: Math.min(ms(a.timeout, 2_000), intervalMs),
    healthyThreshold: a.healthyThreshold ?? 2,
    unhealthyThreshold: a.unhealthyThreshold ?? 3,
    expectedStatuses: a.expectedStatuses,
  };
}

/** Defaults from the CRD: 5 consecutive errors eject for 30s. */
export function passiveSettings(p: PassiveHealthCheck): PassiveSettings {
  return { consecutiveErrors: p.consecutiveErrors ?? 5, ejectionTimeMs: ms(p.ejectionTime, 30_000) };
}

/** What metrics report about an endpoint. */
export type EndpointState = "healthy" | "unhealthy" | "ejected";

/**
 * One endpoint's health under a rule's `healthCheck`. It starts healthy: Kubernetes readiness already
 * vouched for it. Active probes mark it unhealthy after `unhealthyThreshold` consecutive failures and
 * healthy again after `healthyThreshold` consecutive successes. Passive results (real traffic) eject it
 * for `ejectionTime` after `consecutiveErrors` consecutive failures. Without an `active` (or `passive`)
 * part, the matching results change nothing.
 */
export class EndpointHealth {
  readonly #active: ActiveSettings | undefined;
  readonly #passive: PassiveSettings | undefined;
  #activeHealthy = true;
  /** Consecutive probe results that disagree with the current verdict. */
  #streak = 0;
  #errors = 0;
  #ejectedUntil = -Infinity;

  constructor(check: HealthCheck | undefined) {
    this.#active = check?.active && activeSettings(check.active);
    this.#passive = check?.passive && passiveSettings(check.passive);
  }

  /** One active probe's result. */
  activeResult(ok: boolean): void {
    if (!this.#active) return;
    if (ok === this.#activeHealthy) {
      this.#streak = 0;
      return;
    }
    this.#streak++;
    const needed = ok ? this.#active.healthyThreshold : this.#active.unhealthyThreshold;
    if (this.#streak >= needed) {
      this.#activeHealthy = ok;
      this.#streak = 0;
    }
  }

  /**
   * One real request's result. While ejected, results are ignored: they come from requests sent
   * before the ejection, and the endpoint gets a clean count when it returns.
   */
  passiveResult(ok: boolean, now: number): void {
    if (!this.#passive || now < this.#ejectedUntil) return;
    if (ok) {
      this.#errors = 0;
      return;
    }
    if (++this.#errors >= this.#passive.consecutiveErrors) {
      this.#ejectedUntil = now + this.#passive.ejectionTimeMs;
      this.#errors = 0;
    }
  }

  /** Whether traffic may go to it now. */
  healthy(now: number): boolean {
    return this.state(now) === "healthy";
  }

  /** For metrics: failing active checks wins over a (temporary) ejection. */
  state(now: number): EndpointState {
    if (!this.#activeHealthy) return "unhealthy";
    return now < this.#ejectedUntil ? "ejected" : "healthy";
  }
}

/** A circuit's state, for metrics. */
export type CircuitState = "closed" | "open" | "half-open";

/**
 * A rule's circuit breaker. Closed: requests pass and consecutive failures are counted; at
 * `consecutiveFailures` it opens. Open: requests fail fast for `openDuration`, then it is half-open.
 * Half-open: at most `halfOpenRequests` trial requests in flight; that many successes close it, one
 * failure opens it again for a fresh `openDuration`.
 *
 * Every `tryAcquire` that returns true must be followed by one `onResult` (or `release` when the
 * request ended without a verdict, e.g. the client went away), or a half-open slot stays taken.
 */
export class CircuitBreaker {
  readonly #threshold: number;
  readonly #openMs: number;
  readonly #trials: number;
  #state: CircuitState = "closed";
  #failures = 0;
  #openUntil = 0;
  #inFlight = 0;
  #successes = 0;

  constructor(spec: CircuitBreakerSpec | undefined) {
    this.#threshold = spec?.consecutiveFailures ?? 5;
    this.#openMs = ms(spec?.openDuration, 30_000);
    this.#trials = spec?.halfOpenRequests ?? 1;
  }

  /** Whether a request may go now; in half-open, a true takes one of the trial slots. */
  tryAcquire(now: number): boolean {
    switch (this.state(now)) {
      case "closed":
        return true;
      case "open":
        return false;
      case "half-open":
        if (this.#inFlight >= this.#trials) return false;
        this.#inFlight++;
        return true;
    }
  }

  /** A request's outcome. Results arriving while open (requests sent before it opened) are ignored. */
  onResult(ok: boolean, now: number): void {
    switch (this.state(now)) {
      case "closed":
        if (ok) this.#failures = 0;
        else if (++this.#failures >= this.#threshold) this.#open(now);
        return;
      case "open":
        return;
      case "half-open":
        if (!ok) return this.#open(now);
        this.#inFlight = Math.max(0, this.#inFlight - 1);
        if (++this.#successes >= this.#trials) {
          this.#state = "closed"; // with a zero count: #open reset it
        }
        return;
    }
  }

  /** A request that ended without a verdict: frees its half-open slot, counts as nothing. */
  release(now: number): void {
    if (this.state(now) === "half-open") this.#inFlight = Math.max(0, this.#inFlight - 1);
  }

  /** The state at `now` (an open circuit whose time is up is half-open). */
  state(now: number): CircuitState {
    if (this.#state === "open" && now >= this.#openUntil) {
      this.#state = "half-open";
      this.#inFlight = 0;
      this.#successes = 0;
    }
    return this.#state;
  }

  #open(now: number): void {
    this.#state = "open";
    this.#openUntil = now + this.#openMs;
    this.#failures = 0;
  }
}

/** One endpoint to probe. */
export interface ProbeTarget {
  id: string;
  origin: string;
  basePath: string;
}

/** Sends one probe; resolves with the status, rejects on a network error or when `signal` aborts. */
export type Probe = (url: string, signal: AbortSignal) => Promise<number>;

/** The default probe: a GET through undici, body drained (up to 64 KiB) so the connection is reused. */
export const httpProbe: Probe = async (url, signal) => {
  const res = await request(url, { method: "GET", signal });
  await res.body.dump({ limit: 65_536, signal });
  return res.statusCode;
};

export interface ActiveProberOptions {
  /** Where each result goes: the caller feeds it to the endpoint's `EndpointHealth.activeResult`. */
  onResult: (id: string, ok: boolean) => void;
  probe?: Probe;
  clock?: Clock;
}

/** One probe in flight: its abort handle and its timeout timer. */
interface Flight {
  ac: AbortController;
  timeout: unknown;
}

interface Running {
  url: string;
  timer: unknown;
  inFlight: Flight | undefined;
}

/**
 * Probes each endpoint every `interval` (the first probe at once): GET origin + basePath + path,
 * healthy when the status is expected and the answer came within `timeout`. A probe still running at
 * the next tick makes that tick skip. Timers are unref'd: probing never keeps the process alive.
 */
export class ActiveProber {
  readonly #settings: ActiveSettings;
  readonly #onResult: (id: string, ok: boolean) => void;
  readonly #probe: Probe;
  readonly #clock: Clock;
  readonly #running = new Map<string, Running>();

  constructor(check: ActiveHealthCheck, o: ActiveProberOptions) {
    this.#settings = activeSettings(check);
    this.#onResult = o.onResult;
    this.#probe = o.probe ?? httpProbe;
    this.#clock = o.clock ?? realClock;
  }

  /** Endpoints being probed. */
  get ids(): string[] {
    return [...this.#running.keys()];
  }

  /** Probes exactly `targets` from now on: starts new ones, stops those that left. */
  update(targets: readonly ProbeTarget[]): void {
    const want = new Map(targets.map((t) => [t.id, probeUrl(t, this.#settings.path)]));
    for (const [id, r] of this.#running) if (want.get(id) !== r.url) this.#stopOne(id, r);
    for (const [id, url] of want) {
      if (this.#running.has(id)) continue;
      const r: Running = { url, timer: undefined, inFlight: undefined };
      this.#running.set(id, r);
      this.#tick(id, r);
    }
  }

  /** Stops every probe and timer. */
  stop(): void {
    for (const [id, r] of this.#running) this.#stopOne(id, r);
  }

  #stopOne(id: string, r: Running): void {
    this.#clock.clearTimeout(r.timer);
    if (r.inFlight) {
      this.#clock.clearTimeout(r.inFlight.timeout);
      r.inFlight.ac.abort();
    }
    this.#running.delete(id);
  }

  #tick(id: string, r: Running): void {
    r.timer = this.#clock.setTimeout(() => this.#tick(id, r), this.#settings.intervalMs);
    (r.timer as { unref?: () => void } | undefined)?.unref?.();
    if (r.inFlight) return;
    const ac = new AbortController();
    const timeout = this.#clock.setTimeout(() => ac.abort(), this.#settings.timeoutMs);
    (timeout as { unref?: () => void } | undefined)?.unref?.();
    const flight: Flight = { ac, timeout };
    r.inFlight = flight;
    this.#probe(r.url, ac.signal).then(
      (status) => this.#done(id, r, flight, isExpectedStatus(status, this.#settings.expectedStatuses)),
      () => this.#done(id, r, flight, false),
    );
  }

  #done(id: string, r: Running, flight: Flight, ok: boolean): void {
    this.#clock.clearTimeout(flight.timeout);
    if (r.inFlight === flight) r.inFlight = undefined;
    // Stopped meanwhile (or replaced by a new URL): the result is about an endpoint no longer probed.
    if (this.#running.get(id) === r) this.#onResult(id, ok);
  }
}

/** The probe URL: origin + basePath + path, with exactly one slash between basePath and path. */
export function probeUrl(t: ProbeTarget, path: string): string {
  const base = t.basePath.endsWith("/") ? t.basePath.slice(0, -1) : t.basePath;
  return `${t.origin}${base}${path.startsWith("/") ? path : `/${path}`}`;
}
