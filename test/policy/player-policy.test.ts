import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_PLAYER_POLICY, playerPolicy } from "../../src/policy/player-policy.js";

const policy = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));

test("player policy: defaults without a policy or without its keys; each key read", () => {
  assert.deepEqual(playerPolicy(undefined), DEFAULT_PLAYER_POLICY);
  assert.deepEqual(playerPolicy(policy({ systemChanges: "persistent" })), DEFAULT_PLAYER_POLICY);
  assert.deepEqual(playerPolicy(policy({ network: "off", memory: "4G", cpus: 4, usbPassthrough: true, clipboard: true, players: ["host"] })), {
    network: "off",
    memoryBytes: 4 * 1024 ** 3,
    cpus: 4,
    usbPassthrough: true,
    clipboard: true,
    players: ["host"],
  });
  assert.equal(playerPolicy(policy({ memory: 1048576 })).memoryBytes, 1048576);
});

test("player policy: a bad value is a damaged stick, naming the key", () => {
  for (const [bad, key] of [
    [{ network: "bridge" }, "network"],
    [{ memory: "lots" }, "memory"],
    [{ memory: 0 }, "memory"],
    [{ cpus: 0 }, "cpus"],
    [{ cpus: 1.5 }, "cpus"],
    [{ usbPassthrough: "yes" }, "usbPassthrough"],
    [{ clipboard: 1 }, "clipboard"],
    [{ players: ["nowhere"] }, "players"],
  ] as const) {
    assert.throws(() => playerPolicy(policy(bad)), { code: "CORRUPT_STICK", message: new RegExp(key) }, JSON.stringify(bad));
  }
  assert.throws(() => playerPolicy(policy([1])), { code: "CORRUPT_STICK", message: /not a JSON object/ });
});
