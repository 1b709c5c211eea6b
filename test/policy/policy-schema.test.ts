import assert from "node:assert/strict";
import { test } from "node:test";
import { POLICY_SCHEMA, stickPolicy, validatePolicy } from "../../src/policy/policy-schema.js";

const policy = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));

test("policy schema: every default without a policy", () => {
  const p = stickPolicy(undefined);
  assert.equal(p.network, "user-mode");
  assert.equal(p.clipboard, false);
  assert.equal(p.players, undefined);
  assert.equal(p.expires, undefined);
  assert.equal(p.updatePostponeLimit, 3);
  assert.equal(p.updateCheckTimeoutSeconds, 10);
  assert.deepEqual(stickPolicy(policy({})), p);
  // a remark changes nothing (the committed version-1 fixture's policy is one)
  assert.deepEqual(stickPolicy(policy({ note: "fixture policy" })), { ...p, note: "fixture policy" });
});

test("policy schema: each new key read in the form the launcher uses", () => {
  const p = stickPolicy(
    policy({
      clipboard: true,
      expires: "2027-06-30",
      maxOfflineDays: 14,
      updateUrl: "https://updates.example.com/fleet/",
      players: ["linux-x64", "host"],
      updatePostponeLimit: 0,
      updateCheckTimeoutSeconds: 2.5,
      network: "off",
    }),
  );
  assert.equal(p.clipboard, true);
  assert.equal(p.expires, Date.UTC(2027, 5, 30));
  assert.equal(p.maxOfflineDays, 14);
  assert.equal(p.updateUrl, "https://updates.example.com/fleet/");
  assert.deepEqual(p.players, ["linux-x64", "host"]);
  assert.equal(p.updatePostponeLimit, 0);
  assert.equal(p.updateCheckTimeoutSeconds, 2.5);
  assert.equal(p.network, "off");
});

test("policy schema: expires takes a date (midnight UTC) or a date and time with a zone", () => {
  const at = (expires: string): number | undefined => stickPolicy(policy({ expires })).expires;
  assert.equal(at("2027-01-01"), Date.UTC(2027, 0, 1));
  assert.equal(at("2027-01-01T12:30:00Z"), Date.UTC(2027, 0, 1, 12, 30));
  assert.equal(at("2027-01-01T12:30Z"), Date.UTC(2027, 0, 1, 12, 30));
  assert.equal(at("2027-01-01T12:30:00.250+02:00"), Date.UTC(2027, 0, 1, 10, 30, 0, 250));
  assert.equal(at("2028-02-29"), Date.UTC(2028, 1, 29));
});

test("policy schema: a bad value is refused naming the key and what it allows", () => {
  for (const [bad, message] of [
    [{ host: "shared" }, /host must be "kiosk" or "trusted" or "ask", not "shared"/],
    [{ network: "none" }, /network must be "off" or "user-mode"/],
    [{ network: "user" }, /network must be/],
    [{ cacheSize: "big" }, /cacheSize must be a size such as "4G"/],
    [{ cacheSize: -1 }, /cacheSize must be a size/],
    [{ cacheShareOfFreeDisk: 0 }, /cacheShareOfFreeDisk must be a number above 0 and at most 1/],
    [{ cacheShareOfFreeDisk: 1.5 }, /cacheShareOfFreeDisk/],
    [{ cacheDir: "relative/dir" }, /cacheDir must be an absolute folder/],
    [{ cacheDir: null }, /cacheDir must be an absolute folder, not null/],
    [{ memory: 0 }, /memory must be a size such as "4G" \(or bytes\), above 0/],
    [{ cpus: 0 }, /cpus must be a whole number from 1/],
    [{ cpus: 1.5 }, /cpus/],
    [{ usbPassthrough: "yes" }, /usbPassthrough must be true or false/],
    [{ clipboard: 1 }, /clipboard must be true or false/],
    [{ systemChanges: "sometimes" }, /systemChanges must be "volatile" or "persistent"/],
    [{ systemChangesSize: [] }, /systemChangesSize/],
    [{ wipePasses: 0 }, /wipePasses must be a whole number from 1 to 35/],
    [{ wipePasses: 36 }, /wipePasses/],
    [{ expires: "2027-02-30" }, /expires must be an ISO 8601 date/],
    [{ expires: "2027-13-01" }, /expires/],
    [{ expires: "2027-06-30T18:00:00" }, /expires/],
    [{ expires: "30/06/2027" }, /expires/],
    [{ expires: 1800000000000 }, /expires/],
    [{ maxOfflineDays: 0, updateUrl: "https://u.example" }, /maxOfflineDays must be a whole number from 1/],
    [{ maxOfflineDays: 2.5, updateUrl: "https://u.example" }, /maxOfflineDays/],
    [{ maxOfflineDays: 7 }, /maxOfflineDays needs updateUrl/],
    [{ updateUrl: "ftp://u.example/" }, /updateUrl must be an http:\/\/ or https:\/\/ URL/],
    [{ updateUrl: "updates.example.com" }, /updateUrl/],
    [{ updatePostponeLimit: -1 }, /updatePostponeLimit must be a whole number from 0/],
    [{ updateCheckTimeoutSeconds: 0 }, /updateCheckTimeoutSeconds must be a number above 0/],
    [{ players: [] }, /players must be a list of player names/],
    [{ players: ["linux-x64", "linux-x64"] }, /players/],
    [{ players: ["linux-riscv"] }, /players/],
    [{ players: "host" }, /players/],
    [{ note: 7 }, /note must be text/],
  ] as const) {
    assert.throws(() => stickPolicy(policy(bad)), { code: "CORRUPT_STICK", message: new RegExp(`^policy\\.json: ${message.source}`) }, JSON.stringify(bad));
  }
  assert.throws(() => stickPolicy(policy([1])), { code: "CORRUPT_STICK", message: /not a JSON object/ });
  assert.throws(() => stickPolicy(Buffer.from("{")), { code: "CORRUPT_STICK", message: /not valid JSON/ });
});

test("policy schema: an unknown key is refused, with a guess when it is a likely typo", () => {
  assert.throws(() => validatePolicy({ memroy: "4G" }), { code: "CORRUPT_STICK", message: /unknown key "memroy" \(did you mean "memory"\?\); the keys are note, host, / });
  assert.throws(() => validatePolicy({ CPUs: 2 }), { message: /did you mean "cpus"/ });
  assert.throws(() => validatePolicy({ updateURL: "https://u.example" }), { message: /did you mean "updateUrl"/ });
  assert.throws(() => validatePolicy({ colour: "blue" }), (err: Error) => /unknown key "colour"; the keys are/.test(err.message));
  assert.throws(() => validatePolicy({ toString: 1 }), { message: /unknown key "toString"/ });
  assert.throws(() => validatePolicy({ allowHostPlayer: false }), { message: /allowHostPlayer was replaced by players/ });
});

test("policy schema: every key's default passes its own check", () => {
  for (const [key, e] of Object.entries(POLICY_SCHEMA)) {
    const entry: { check: (v: unknown, k: string) => unknown; default: unknown } = e;
    if (entry.default !== undefined) assert.deepEqual(entry.check(entry.default, key), entry.default, key);
  }
});
