import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { IndexBuilder } from "../../stick-layout/chunk-index.js";
import { DedupTable } from "../../src/admin/dedup-table.js";

test("dedup stays exact when ids share their prefix", () => {
  const rows = new IndexBuilder();
  // a one-byte prefix: 600 ids over 256 prefixes collide all the time
  const table = new DedupTable(rows, (id) => id.readUInt8(0));
  const ids = Array.from({ length: 600 }, () => randomBytes(32));
  for (const id of ids) {
    assert.equal(table.find(id), undefined, "a new id is not found");
    table.add(id, rows.add({ id, pack: 0, offset: 16, length: 100 }));
  }
  for (const [i, id] of ids.entries()) {
    const row = table.find(Buffer.from(id));
    assert.equal(row, i, `id ${i} is found at its own row`);
  }
  for (let i = 0; i < 200; i++) assert.equal(table.find(randomBytes(32)), undefined);
  // every id was stored once: the index has no duplicate ids
  const encoded = rows.encode(1);
  assert.equal(encoded.readUInt32LE(12), 600);
});
