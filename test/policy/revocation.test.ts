import assert from "node:assert/strict";
import { test } from "node:test";
import { checkRevoked, isRevoked } from "../../src/policy/revocation.js";

const id = Buffer.from("00112233445566778899aabbccddeeff", "hex");

test("revocation: a list naming the stick (any case) refuses it; one that does not, or an empty one, lets it start", () => {
  assert.throws(() => { checkRevoked(id, ["ffffffffffffffffffffffffffffffff", "00112233445566778899AABBCCDDEEFF"]); }, { code: "REVOKED", message: /00112233445566778899aabbccddeeff\) was revoked/ });
  assert.doesNotThrow(() => { checkRevoked(id, ["00112233445566778899aabbccddeef0"]); });
  assert.doesNotThrow(() => { checkRevoked(id, []); });
  assert.equal(isRevoked(id, new Set(["00112233445566778899aabbccddeeff"])), true);
  // a prefix is not the id
  assert.equal(isRevoked(id, ["00112233445566778899aabbccddee"]), false);
});
