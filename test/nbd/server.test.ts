// The server's lifecycle: close() with clients in every phase; the devices stay the caller's.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { access } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { createScratchDevice } from "../../src/layers/overlay-device.js";
import * as P from "../../src/nbd/protocol.js";
import { startNbdServer } from "../../src/nbd/server.js";
import { tempDir } from "../helpers/sticks.js";
import { RawClient } from "./nbd-helpers.js";

test("close() answers requests already read, closes every connection, removes the socket, leaves the device open", async (t) => {
  const dir = await tempDir(t, "stickvm-nbd-");
  const device = await createScratchDevice({ dir, size: 16 << 20 });
  t.after(() => device.close());
  const socket = join(dir, "nbd.sock");
  const server = await startNbdServer({ exports: new Map([["d", { device }]]), listen: { socket } });

  const busy = await RawClient.connect(socket);
  await busy.go("d");
  const idle = await RawClient.connect(socket);
  await idle.go("d", { structured: false, meta: false });
  const handshaking = await RawClient.connect(socket);
  await handshaking.greet();
  t.after(() => {
    for (const c of [busy, idle, handshaking]) c.destroy();
  });

  const data = randomBytes(1 << 20);
  for (let i = 0; i < 16; i++) busy.sendRequest(P.NBD_CMD_WRITE, { handle: BigInt(i), offset: i << 20, payload: data });
  const first = await busy.reply();
  assert.equal(first.error, 0);
  const closed = server.close();
  const clientsSeeClose = Promise.all([idle.closed(), handshaking.closed()]);
  let answered = 1;
  try {
    for (;;) {
      assert.equal((await busy.reply()).error, 0);
      answered++;
    }
  } catch {
    // end of stream: the server closed after the last reply
  }
  await Promise.all([closed, clientsSeeClose, busy.closed()]);
  assert.ok(answered >= 1 && answered <= 16);
  await assert.rejects(access(socket), "the socket file is gone");
  await assert.rejects(RawClient.connect(socket));
  const back = await device.read(0, 1 << 20);
  assert.ok(back.equals(data), "the device is still open, with the writes that were answered");
});

test("close() does not wait forever for a client that never reads its replies", async (t) => {
  const dir = await tempDir(t, "stickvm-nbd-");
  const device = await createScratchDevice({ dir, size: 64 << 20 });
  t.after(() => device.close());
  const socket = join(dir, "nbd.sock");
  const server = await startNbdServer({ exports: new Map([["d", { device }]]), listen: { socket } });
  const c = await RawClient.connect(socket);
  t.after(() => {
    c.destroy();
  });
  await c.go("d");
  c.socket.pause();
  for (let i = 0; i < 256; i++) c.sendRequest(P.NBD_CMD_READ, { handle: BigInt(i), offset: (i % 64) << 20, length: 1 << 20 });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const started = Date.now();
  await server.close();
  assert.ok(Date.now() - started < 5000, `close took ${Date.now() - started} ms`);
});
