import assert from "node:assert/strict";
import { cp } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { openLogDevice } from "../../../src/layers/log/log.js";
import { REPO_ROOT, tempDir } from "../../helpers/sticks.js";
import { BLOCK } from "./helpers.js";

// A log written by format version 1 (fixtures/log-v1/README.md): every later reader must read it.

test("the frozen version-1 log opens, replays its tail and reads back its bytes", async (t) => {
  const dir = join(await tempDir(t), "log");
  await cp(join(REPO_ROOT, "test", "layers", "log", "fixtures", "log-v1"), dir, { recursive: true });
  const dev = await openLogDevice({ dir, key: Buffer.alloc(32, 0x42) });
  const want = Buffer.alloc(16 * BLOCK + 512);
  want.fill(0x11, 0, 3 * BLOCK);
  Buffer.from("stickvm log v1 fixture").copy(want, 2 * BLOCK + 100);
  want.fill(0x33, 8 * BLOCK, 10 * BLOCK);
  want.fill(0x22, 16 * BLOCK);
  assert.equal(dev.size, want.length);
  assert.ok((await dev.read(0, want.length)).equals(want));
  await dev.close();
});
