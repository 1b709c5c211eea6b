import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_POOLED_READ, ReadBuffers } from "../../src/nbd/read-buffers.js";

test("a buffer given back is lent again for a read of its size class", () => {
  const pool = new ReadBuffers(1 << 20);
  const a = pool.take(5000);
  assert.equal(a.length, 5000);
  assert.equal(pool.pooledBytes, 8192, "5000 bytes take the 8 KiB class");
  pool.give(a);
  const b = pool.take(8192);
  assert.equal(b.buffer, a.buffer, "the same memory");
  assert.equal(b.length, 8192);
  const c = pool.take(4096);
  assert.notEqual(c.buffer, a.buffer, "another class gets its own");
  assert.equal(pool.pooledBytes, 8192 + 4096);
});

test("memory is never lent twice: a second give, or a buffer the pool did not lend, is ignored", () => {
  const pool = new ReadBuffers(1 << 20);
  const a = pool.take(4096);
  pool.give(a);
  pool.give(a);
  const b = pool.take(4096);
  const c = pool.take(4096);
  assert.notEqual(b.buffer, c.buffer);
  pool.give(Buffer.alloc(4096));
  assert.notEqual(pool.take(4096).buffer, b.buffer);
});

test("past the cap, and above the largest class, reads get buffers of their own that give ignores", () => {
  const pool = new ReadBuffers(16384);
  const lent = [pool.take(8192), pool.take(8192)];
  const extra = pool.take(8192);
  assert.equal(pool.pooledBytes, 16384, "the cap holds");
  assert.equal(extra.length, 8192);
  pool.give(extra);
  const big = pool.take(MAX_POOLED_READ + 1);
  assert.equal(big.length, MAX_POOLED_READ + 1);
  assert.equal(pool.pooledBytes, 16384);
  for (const b of lent) pool.give(b);
  // free buffers of another size make room for the size asked for
  const other = pool.take(16384);
  assert.equal(other.length, 16384);
  assert.equal(pool.pooledBytes, 16384);
});
