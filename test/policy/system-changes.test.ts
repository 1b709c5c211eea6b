import assert from "node:assert/strict";
import { test } from "node:test";
import { systemChangesPolicy } from "../../src/policy/system-changes.js";

const GiB = 1024 ** 3;
const policy = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));

test("system changes: volatile unless the policy says persistent; capacity from the policy or a quarter of the disk", () => {
  assert.deepEqual(systemChangesPolicy(undefined, 8 * GiB), { mode: "volatile" });
  assert.deepEqual(systemChangesPolicy(policy({}), 8 * GiB), { mode: "volatile" });
  assert.deepEqual(systemChangesPolicy(policy({ systemChanges: "volatile" }), 8 * GiB), { mode: "volatile" });
  assert.deepEqual(systemChangesPolicy(policy({ systemChanges: "persistent" }), 8 * GiB), { mode: "persistent", capacity: 2 * GiB });
  assert.deepEqual(systemChangesPolicy(policy({ systemChanges: "persistent", systemChangesSize: "3G" }), 8 * GiB), { mode: "persistent", capacity: 3 * GiB });
  assert.deepEqual(systemChangesPolicy(policy({ systemChanges: "persistent", systemChangesSize: 4096 }), 8 * GiB), { mode: "persistent", capacity: 4096 });
  for (const bad of [{ systemChanges: "sometimes" }, { systemChanges: "persistent", systemChangesSize: "lots" }, { systemChanges: "persistent", systemChangesSize: -1 }, { systemChanges: "persistent", systemChangesSize: [] }]) {
    assert.throws(() => systemChangesPolicy(policy(bad), GiB), /policy\.json/, JSON.stringify(bad));
  }
  assert.throws(() => systemChangesPolicy(Buffer.from("{nope"), GiB), /not valid JSON/);
});
