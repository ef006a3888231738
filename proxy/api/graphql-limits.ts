/**
 * Depth and cost of a GraphQL document, measured on the parsed document before graphql-js validates
 * it, so a bomb is refused before any rule (some of them quadratic in the number of fields) or any
 * resolver runs. Pure.
 *
 * - Cost: every field selection counts 1, after fragments are expanded; each alias is its own
 *   selection, so 1000 aliases of `health` cost 1000. Introspection fields count like any other.
 *   Every operation of the document counts (validation reads all of them, whichever one runs), and
 *   so does a fragment no operation uses. A fragment's cost is computed once and reused, so a
 *   fragment spread twice in a fragment spread twice… (fan-out) is measured in linear time; its
 *   exponential cost is then refused.
 * - Depth: the deepest chain of nested fields. Introspection's `ofType` adds none: it is a wrapper
 *   type's one inner type (never a list), nested 7 deep by the standard introspection query that
 *   GraphiQL and code generators send; any list field (`fields`, `types`, `args`…) still counts, so
 *   `fields { type { fields { type …` is refused as deep.
 * - A cycle of fragments measures as if it stopped: validation (NoFragmentCyclesRule) refuses it.
 */
import {
  GraphQLError,
  Kind,
  type DocumentNode,
  type FragmentDefinitionNode,
  type SelectionSetNode,
} from "graphql";

export interface Measure {
  depth: number;
  cost: number;
}

export interface QueryLimits {
  maxDepth: number;
  maxCost: number;
}

/** Fields that nest without adding depth (see the header). */
const FLAT_FIELDS: ReadonlySet<string> = new Set(["ofType"]);

const ZERO: Measure = Object.freeze({ depth: 0, cost: 0 });

/** Sums saturate, so a fan-out's cost stays a finite number in an error's details. */
const add = (a: number, b: number): number => Math.min(a + b, Number.MAX_SAFE_INTEGER);

interface Walk {
  fragments: ReadonlyMap<string, FragmentDefinitionNode>;
  done: Map<string, Measure>;
  active: Set<string>;
}

function measureFragment(name: string, w: Walk): Measure {
  const known = w.done.get(name);
  if (known) return known;
  const def = w.fragments.get(name);
  if (!def || w.active.has(name)) return ZERO; // unknown or cyclic: validation refuses it
  w.active.add(name);
  const m = measureSet(def.selectionSet, w);
  w.active.delete(name);
  w.done.set(name, m);
  return m;
}

function measureSet(set: SelectionSetNode, w: Walk): Measure {
  let depth = 0;
  let cost = 0;
  for (const sel of set.selections) {
    let m: Measure;
    if (sel.kind === Kind.FIELD) {
      const inner = sel.selectionSet ? measureSet(sel.selectionSet, w) : ZERO;
      m = { depth: inner.depth + (FLAT_FIELDS.has(sel.name.value) ? 0 : 1), cost: add(inner.cost, 1) };
    } else if (sel.kind === Kind.INLINE_FRAGMENT) {
      m = measureSet(sel.selectionSet, w);
    } else {
      m = measureFragment(sel.name.value, w);
    }
    depth = Math.max(depth, m.depth);
    cost = add(cost, m.cost);
  }
  return { depth, cost };
}

/** The deepest selection and the total cost of a document (see the header for what counts). */
export function measureDocument(doc: DocumentNode): Measure {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const def of doc.definitions)
    if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
  const w: Walk = { fragments, done: new Map(), active: new Set() };
  let depth = 0;
  let cost = 0;
  const take = (m: Measure) => {
    depth = Math.max(depth, m.depth);
    cost = add(cost, m.cost);
  };
  for (const def of doc.definitions)
    if (def.kind === Kind.OPERATION_DEFINITION) take(measureSet(def.selectionSet, w));
  for (const name of fragments.keys()) if (!w.done.has(name)) take(measureFragment(name, w));
  return { depth, cost };
}

/** Error codes of the two limits (`extensions.code`). */
export const QUERY_TOO_DEEP = "QUERY_TOO_DEEP";
export const QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY";

/** The refusals of a document past the limits; empty when it is within them. */
export function limitErrors(doc: DocumentNode, limits: QueryLimits): GraphQLError[] {
  let m: Measure;
  try {
    m = measureDocument(doc);
  } catch (err) {
    // Nesting deep enough to exhaust the stack (the parser's token limit makes this unlikely).
    if (err instanceof RangeError) m = { depth: Number.MAX_SAFE_INTEGER, cost: Number.MAX_SAFE_INTEGER };
    else throw err;
  }
  const errors: GraphQLError[] = [];
  if (m.depth > limits.maxDepth)
    errors.push(
      new GraphQLError(
        `query nests ${m.depth} fields deep; at most ${limits.maxDepth} are allowed: ask for less nested fields`,
        { extensions: { code: QUERY_TOO_DEEP, details: { limit: limits.maxDepth, actual: m.depth } } },
      ),
    );
  if (m.cost > limits.maxCost)
    errors.push(
      new GraphQLError(
        `query selects ${m.cost} fields (aliases and fragments expanded); at most ${limits.maxCost} are allowed: ask for fewer fields or split the query`,
        { extensions: { code: QUERY_TOO_COSTLY, details: { limit: limits.maxCost, actual: m.cost } } },
      ),
    );
  return errors;
}
