import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_CHECK_TIMEOUT_SECONDS, DEFAULT_POSTPONE_LIMIT, updatePolicy } from "../../src/policy/update-policy.js";

const policy = (o: object): Buffer => Buffer.from(JSON.stringify(o));

test("update policy: the URL, the postpone limit and the check's timeout, with their defaults; a bad value is refused by name", () => {
  assert.deepEqual(updatePolicy(undefined), { url: undefined, postponeLimit: DEFAULT_POSTPONE_LIMIT, checkTimeoutMs: DEFAULT_CHECK_TIMEOUT_SECONDS * 1000 });
  const p = updatePolicy(policy({ updateUrl: "https://updates.example.com/fleet/", updatePostponeLimit: 0, updateCheckTimeoutSeconds: 2.5 }));
  assert.equal(p.url?.href, "https://updates.example.com/fleet/");
  assert.equal(p.postponeLimit, 0);
  assert.equal(p.checkTimeoutMs, 2500);
  for (const [bad, key] of [[{ updateUrl: "ftp://x/" }, "updateUrl"], [{ updateUrl: "not a url" }, "updateUrl"], [{ updateUrl: 7 }, "updateUrl"], [{ updatePostponeLimit: -1 }, "updatePostponeLimit"], [{ updatePostponeLimit: 1.5 }, "updatePostponeLimit"], [{ updateCheckTimeoutSeconds: 0 }, "updateCheckTimeoutSeconds"]] as const) {
    assert.throws(() => updatePolicy(policy(bad)), (err: Error) => err.message.startsWith(`policy.json: ${key} must be`), JSON.stringify(bad));
  }
});
