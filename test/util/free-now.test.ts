import assert from "node:assert/strict";
import { test } from "node:test";
import { freeNow } from "../../src/util/free-now.js";

test("freeNow frees a buffer that owns its memory at once", () => {
  const size = 8 * 1024 * 1024;
  const buf = Buffer.allocUnsafeSlow(size);
  const before = process.memoryUsage().arrayBuffers;
  freeNow(buf);
  assert.equal(buf.length, 0, "the buffer is empty afterwards");
  assert.ok(before - process.memoryUsage().arrayBuffers >= size, "its memory is gone without a garbage collection");
});

test("freeNow leaves alone what does not own all of its memory", () => {
  const whole = Buffer.from("0123456789abcdef".repeat(1024));
  const view = whole.subarray(16, 32);
  freeNow(view);
  assert.equal(view.toString(), "0123456789abcdef", "a view of a larger buffer");
  assert.equal(whole.length, 16 * 1024);
  const pooled = Buffer.from("small"); // a slice of Node's shared allocation pool
  freeNow(pooled);
  assert.equal(pooled.toString(), "small", "a buffer from the pool");
  const small = Buffer.allocUnsafeSlow(100).fill(3);
  freeNow(small);
  assert.equal(small.length, 100, "a small buffer, left to the collector");
  const shared = new Uint8Array(new SharedArrayBuffer(64)).fill(7);
  freeNow(shared);
  assert.equal(shared.length, 64, "shared memory");
  assert.equal(shared[63], 7);
});
