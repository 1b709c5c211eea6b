import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { encodeMeta, parseMeta } from "../../src/cache/cache-meta.js";
import { EvictionOrder } from "../../src/cache/eviction.js";
import { LayoutError } from "../../src/util/bytes.js";

test("eviction order: the rest goes least recently used first, the boot set last; the boot set's cap sends its oldest back", () => {
  const o = new EvictionOrder(20);
  o.add("b1", 10, true);
  o.add("r1", 10, false);
  o.add("r2", 10, false);
  o.add("b2", 10, true);
  o.touch("r1", false);
  assert.deepEqual(o.shrinkTo(30), ["r2"]);
  assert.deepEqual(o.shrinkTo(20), ["r1"]);
  assert.deepEqual(o.shrinkTo(0), ["b1", "b2"]);
  assert.equal(o.bytes, 0);
  o.add("b1", 10, true);
  o.add("b2", 10, true);
  o.add("b3", 10, true);
  assert.equal(o.isBoot("b1"), false, "over the cap: the oldest boot entry joins the rest");
  assert.deepEqual([...o.inOrder()], [{ hex: "b1", boot: false }, { hex: "b2", boot: true }, { hex: "b3", boot: true }]);
});

test("cache index: round trip, and every damage is a LayoutError", () => {
  const entries = [{ id: randomBytes(32), boot: true }, { id: randomBytes(32), boot: false }];
  const bytes = encodeMeta(entries);
  assert.deepEqual(parseMeta(bytes), entries);
  for (let i = 0; i < bytes.length; i++) {
    const bad = Buffer.from(bytes);
    bad[i] = (bad[i] ?? 0) ^ 0x01;
    assert.throws(() => parseMeta(bad), LayoutError, `byte ${i}`);
  }
  for (let n = 0; n < bytes.length; n++) assert.throws(() => parseMeta(bytes.subarray(0, n)), LayoutError, `${n} bytes`);
});
