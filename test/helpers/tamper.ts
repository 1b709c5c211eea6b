// Helpers for tests that tamper with a stick and expect it refused.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { STICK_FILES } from "../../stick-layout/format.js";
import { HEADER_COPY_BYTES } from "../../stick-layout/header.js";
import { openStick } from "../../src/chunkstore/open-stick.js";
import { sha256 } from "../../src/crypto/hash.js";
import { StickvmError } from "../../src/errors/errors.js";
import { PASSPHRASE } from "./sticks.js";

/** openStick refuses the stick as damaged, with this message. */
export async function refusedWith(stick: string, message: RegExp): Promise<void> {
  await assert.rejects(openStick(stick, { passphrase: PASSPHRASE }), (err: unknown) => {
    assert.ok(err instanceof StickvmError, String(err));
    assert.equal(err.code, "CORRUPT_STICK");
    assert.match(err.message, message);
    return true;
  });
}

/**
 * Flips a bit of a header extension digest at `offset` in both copies and fixes the extension
 * checksum at `checksumAt`, as a forger without the header MAC key could.
 */
export async function forgeHeaderDigest(stick: string, offset: number, checksumAt: number): Promise<void> {
  const path = join(stick, STICK_FILES.header);
  const buf = await readFile(path);
  for (const copy of [0, HEADER_COPY_BYTES]) {
    buf[copy + offset] = (buf[copy + offset] ?? 0) ^ 1;
    sha256(buf.subarray(copy, copy + checksumAt)).copy(buf, copy + checksumAt);
  }
  await writeFile(path, buf);
}
