// Read errors from the stick over NBD: with chosen chunks failing (test/helpers/fault-injection.ts),
// exactly the reads that touch them get EIO, every other read gets the image's bytes, and the
// session (server, connection, device) carries on; when the fault clears, the chunks read again.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { openStick } from "../../src/chunkstore/open-stick.js";
import { BaseDevice } from "../../src/layers/base-device.js";
import { startNbdServer } from "../../src/nbd/server.js";
import * as P from "../../src/nbd/protocol.js";
import { failingChunkReads } from "../helpers/fault-injection.js";
import { missingCommands } from "../helpers/guest.js";
import { adminKey, fastBuild, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";
import { RawClient, tool } from "./nbd-helpers.js";

const CHUNK = 64 * 1024;
const CHUNKS = 8;
const BAD = [2, 5];
const noQemuIo = missingCommands(["qemu-io"]).length > 0 ? "needs qemu-io (Debian: qemu-utils)" : false;

test("read errors of chosen chunks reach exactly the NBD reads that touch them, as EIO, and the session continues", { timeout: 3 * 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const { path: image, bytes } = await writeImage(dir, [{ random: CHUNKS * CHUNK }]);
  const stickDir = join(dir, "stick");
  await fastBuild({ image, out: stickDir, signingKey: await adminKey(dir), chunkSize: CHUNK });
  const stick = await openStick(stickDir, { passphrase: PASSPHRASE });
  t.after(() => stick.close());
  const faulty = failingChunkReads(stick.base, BAD);
  const device = new BaseDevice(faulty.image);
  const socket = join(dir, "nbd.sock");
  const server = await startNbdServer({ exports: new Map([["system", { device, description: "base with failing chunks" }]]), listen: { socket } });
  t.after(() => server.close());

  const client = await RawClient.connect(socket);
  t.after(() => { client.destroy(); });
  await client.go("system");
  let handle = 0n;
  const read = async (offset: number, length: number): Promise<{ error: number; data?: Buffer; message?: string }> => {
    handle += 1n;
    client.sendRequest(P.NBD_CMD_READ, { handle, offset, length });
    const r = await client.reply(length);
    assert.equal(r.handle, handle);
    return r;
  };
  const touchesBad = (offset: number, length: number): boolean => BAD.some((c) => offset < (c + 1) * CHUNK && c * CHUNK < offset + length);

  // every 4 KiB block, one read each, in an order that is not the disk's (no read-ahead luck)
  const blocks = bytes.length / 4096;
  for (let k = 0; k < blocks; k++) {
    const offset = ((k * 37) % blocks) * 4096;
    const r = await read(offset, 4096);
    if (touchesBad(offset, 4096)) {
      assert.equal(r.error, P.NBD_EIO, `block at ${offset}`);
      assert.match(r.message ?? "", /injected read error: chunk [25] /);
    } else {
      assert.equal(r.error, 0, `block at ${offset}: ${r.message ?? ""}`);
      assert.deepEqual(r.data, bytes.subarray(offset, offset + 4096), `block at ${offset}`);
    }
  }
  // reads across chunk boundaries: one bad chunk anywhere fails the whole read, and only such reads
  for (const [offset, length] of [[CHUNK - 4096, 8192], [CHUNK, 2 * CHUNK], [3 * CHUNK, 2 * CHUNK], [3 * CHUNK - 512, CHUNK + 1024], [0, bytes.length]] as const) {
    const r = await read(offset, length);
    assert.equal(r.error === P.NBD_EIO, touchesBad(offset, length), `read of ${length} at ${offset}`);
    if (r.error === 0) assert.deepEqual(r.data, bytes.subarray(offset, offset + length));
  }
  // the failure is not kept: each read of a bad chunk asked the stick again
  for (const c of BAD) assert.ok((faulty.reads.get(c) ?? 0) >= 16, `chunk ${c} was read ${faulty.reads.get(c) ?? 0} times`);

  await t.test("QEMU's NBD client sees EIO for the bad chunk and reads the rest", { skip: noQemuIo }, async () => {
    const uri = server.uri("system");
    const bad = await tool("qemu-io", ["-r", "-f", "raw", "-c", `read ${5 * CHUNK + 4096} 4096`, uri]);
    assert.match(bad.stdout + bad.stderr, /read failed: Input\/output error/);
    const good = await tool("qemu-io", ["-r", "-f", "raw", "-c", `read ${4 * CHUNK} ${CHUNK}`, uri]);
    assert.doesNotMatch(good.stdout + good.stderr, /failed/);
    assert.match(good.stdout, new RegExp(`read ${CHUNK}/${CHUNK} bytes at offset ${4 * CHUNK}`));
  });

  // the stick recovers: the same connection reads the chunks that failed
  faulty.failing.clear();
  const all = await read(0, bytes.length);
  assert.equal(all.error, 0, all.message);
  assert.deepEqual(all.data, bytes);
});
