/**
 * Kubernetes resource quantities as numbers, shared by the operator (volume growth, bounds) and the
 * proxy's API (bounds at creation). Pure.
 */
import type { Quantity } from "../../../crds/types.ts";

const QUANTITY =
  /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/;
const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A Kubernetes quantity as a number (`"1Gi"` → 1073741824, `"500m"` → 0.5); undefined when malformed. */
export function parseQuantity(q: Quantity): number | undefined {
  if (typeof q === "number") return Number.isFinite(q) ? q : undefined;
  const m = QUANTITY.exec(q.trim().replace(/^\+/, ""));
  if (!m) return undefined;
  const n = Number(m[1]);
  if (m[2]) return n * 10 ** Number(m[2].slice(1));
  return m[3] ? n * SUFFIX[m[3]]! : n;
}

/** -1, 0 or 1 as quantity `a` is smaller, equal or larger than `b`; undefined when either is malformed. */
export function compareQuantities(a: Quantity, b: Quantity): -1 | 0 | 1 | undefined {
  const x = parseQuantity(a);
  const y = parseQuantity(b);
  if (x === undefined || y === undefined) return undefined;
  return x < y ? -1 : x > y ? 1 : 0;
}
