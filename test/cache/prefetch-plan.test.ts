import assert from "node:assert/strict";
import { test } from "node:test";
import type { ChunkLocation } from "../../stick-layout/chunk-index.js";
import { heldInOrder, planPrefetch, PREFETCH_GAP_BYTES, PREFETCH_SPAN_BYTES } from "../../src/cache/prefetch-plan.js";

/** Ids 0..n-1 as 32-byte values whose first byte is the number. */
function id(n: number): Buffer {
  const b = Buffer.alloc(32);
  b[0] = n;
  return b;
}

function plan(order: number[], where: Record<number, ChunkLocation | undefined>, o: { held?: number[]; budget?: number } = {}) {
  return planPrefetch({
    ids: Buffer.concat(order.map(id)),
    locate: (x) => where[x[0] ?? -1],
    held: (x) => (o.held ?? []).includes(x[0] ?? -1),
    budgetBytes: o.budget ?? Infinity,
  }).map((s) => ({ pack: s.pack, offset: s.offset, length: s.length, chunks: s.chunks.map((c) => c.id[0]) }));
}

const K = 1000;

test("a profile read in a scattered order is planned as one sweep of the stick, front to back", () => {
  const where = { 1: { pack: 1, offset: 16, length: K }, 2: { pack: 0, offset: 16 + K, length: K }, 3: { pack: 0, offset: 16, length: K }, 4: { pack: 1, offset: 16 + K, length: K } };
  assert.deepEqual(plan([4, 2, 1, 3], where), [
    { pack: 0, offset: 16, length: 2 * K, chunks: [3, 2] },
    { pack: 1, offset: 16, length: 2 * K, chunks: [1, 4] },
  ]);
});

test("chunks the stick lacks, the cache holds, or the profile repeats are left out", () => {
  const where = { 1: { pack: 0, offset: 16, length: K }, 2: { pack: 0, offset: 16 + K, length: K }, 3: { pack: 0, offset: 16 + 2 * K, length: K } };
  assert.deepEqual(plan([1, 9, 2, 1, 3], where, { held: [2] }), [
    { pack: 0, offset: 16, length: 3 * K, chunks: [1, 3] },
  ]);
});

test("the budget keeps the profile's first chunks, not the stick's first", () => {
  const where = { 1: { pack: 0, offset: 16, length: K }, 2: { pack: 0, offset: 16 + K, length: K }, 3: { pack: 0, offset: 16 + 2 * K, length: K } };
  assert.deepEqual(plan([3, 2, 1], where, { budget: 2 * K }).flatMap((s) => s.chunks), [2, 3]);
  assert.deepEqual(plan([3, 2, 1], where, { budget: 2 * K - 1 }).flatMap((s) => s.chunks), [3]);
  assert.deepEqual(plan([3, 2, 1], where, { budget: 0 }), []);
});

test("a gap up to the limit is read through; one byte more, or a span past its cap, starts a new read", () => {
  const at = (offset: number): ChunkLocation => ({ pack: 0, offset, length: K });
  assert.equal(plan([1, 2], { 1: at(0), 2: at(K + PREFETCH_GAP_BYTES) }).length, 1);
  assert.equal(plan([1, 2], { 1: at(0), 2: at(K + PREFETCH_GAP_BYTES + 1) }).length, 2);
  const big = (offset: number): ChunkLocation => ({ pack: 0, offset, length: PREFETCH_SPAN_BYTES / 2 });
  assert.equal(plan([1, 2], { 1: big(0), 2: big(PREFETCH_SPAN_BYTES / 2) }).length, 1);
  assert.equal(plan([1, 2], { 1: big(0), 2: big(PREFETCH_SPAN_BYTES / 2 + 1) }).length, 2);
});

test("heldInOrder keeps the profile's order, once per chunk, and only what the cache holds", () => {
  const ids = Buffer.concat([id(5), id(1), id(5), id(9), id(2), id(1), id(7)]);
  const held = new Set([1, 2, 5, 7]);
  const out = heldInOrder(ids, (x) => held.has(x[0] ?? -1));
  assert.deepEqual(Buffer.from(out), Buffer.concat([id(5), id(1), id(2), id(7)]));
  assert.equal(heldInOrder(ids, () => false).length, 0);
  // a torn tail (fewer than 32 bytes) is not an id
  assert.equal(heldInOrder(Buffer.concat([id(1), Buffer.alloc(5, 1)]), () => true).length, 32);
});
