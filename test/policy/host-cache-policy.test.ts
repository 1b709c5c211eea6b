import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_HOST_CACHE_POLICY, hostCachePolicy } from "../../src/policy/host-cache-policy.js";

const policy = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));

test("host cache policy: kiosk, 4G and a quarter of the free disk by default; each key read", () => {
  assert.deepEqual(hostCachePolicy(undefined), { host: "kiosk", maxBytes: 4 * 1024 ** 3, freeShare: 0.25, dir: undefined });
  assert.deepEqual(hostCachePolicy(policy({ network: "off" })), DEFAULT_HOST_CACHE_POLICY);
  assert.deepEqual(hostCachePolicy(policy({ host: "trusted", cacheSize: "512M", cacheShareOfFreeDisk: 0.5, cacheDir: "/var/cache/stickvm" })), {
    host: "trusted",
    maxBytes: 512 * 1024 ** 2,
    freeShare: 0.5,
    dir: "/var/cache/stickvm",
  });
  assert.equal(hostCachePolicy(policy({ cacheSize: 0 })).maxBytes, 0);
});

test("host cache policy: a bad value is a damaged stick, naming the key", () => {
  for (const [bad, key] of [
    [{ host: "shared" }, "host"],
    [{ cacheSize: "big" }, "cacheSize"],
    [{ cacheSize: -1 }, "cacheSize"],
    [{ cacheShareOfFreeDisk: 0 }, "cacheShareOfFreeDisk"],
    [{ cacheShareOfFreeDisk: 1.5 }, "cacheShareOfFreeDisk"],
    [{ cacheShareOfFreeDisk: "half" }, "cacheShareOfFreeDisk"],
    [{ cacheDir: "relative/dir" }, "cacheDir"],
    [{ cacheDir: 7 }, "cacheDir"],
  ] as const) {
    assert.throws(() => hostCachePolicy(policy(bad)), { code: "CORRUPT_STICK", message: new RegExp(`policy\\.json: ${key}`) }, JSON.stringify(bad));
  }
});
