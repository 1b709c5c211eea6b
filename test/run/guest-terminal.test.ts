import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { attachTerminal, type Terminal } from "../../src/run/guest-terminal.js";

function fakeTerminal(tty: boolean): { terminal: Terminal; rawModes: boolean[]; input: PassThrough; output: PassThrough } {
  const input = new PassThrough();
  const output = new PassThrough();
  const rawModes: boolean[] = [];
  const tagged = Object.assign(input, tty ? { isTTY: true, setRawMode: (raw: boolean) => rawModes.push(raw) } : {});
  return { terminal: { input: tagged, output }, rawModes, input, output };
}

/** What a stream has buffered, as text ("" when nothing). */
function drained(stream: PassThrough): string {
  const chunk = stream.read() as Buffer | null;
  return chunk === null ? "" : chunk.toString();
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test("a terminal goes raw for the session; Ctrl-C stops the session and is not sent to the guest; the rest is", async () => {
  const { terminal, rawModes, input, output } = fakeTerminal(true);
  const guestIn = new PassThrough();
  const guestOut = new PassThrough();
  let interrupts = 0;
  const detach = attachTerminal(terminal, { stdin: guestIn, stdout: guestOut }, () => { interrupts++; });
  assert.deepEqual(rawModes, [true]);
  input.write(Buffer.from("ls\x03 -l\r"));
  guestOut.write("guest says hi\r\n");
  await tick();
  assert.equal(interrupts, 1);
  assert.equal(drained(guestIn), "ls -l\r");
  assert.equal(drained(output), "guest says hi\r\n");
  detach();
  assert.deepEqual(rawModes, [true, false]);
  input.write("after");
  guestOut.write("late");
  await tick();
  assert.equal(drained(guestIn), "", "nothing is passed on after detach");
  assert.equal(drained(output), "");
});

test("input that is not a terminal passes through untouched, Ctrl-C bytes included", async () => {
  const { terminal, rawModes, input } = fakeTerminal(false);
  const guestIn = new PassThrough();
  let interrupts = 0;
  const detach = attachTerminal(terminal, { stdin: guestIn, stdout: new PassThrough() }, () => { interrupts++; });
  input.write(Buffer.from("a\x03b"));
  await tick();
  assert.equal(drained(guestIn), "a\x03b");
  assert.equal(interrupts, 0);
  assert.deepEqual(rawModes, []);
  detach();
});

test("with a window (no guest console) a terminal still goes raw, so Ctrl-C reaches only the launcher", async () => {
  const { terminal, rawModes, input } = fakeTerminal(true);
  let interrupts = 0;
  const detach = attachTerminal(terminal, undefined, () => { interrupts++; });
  input.write(Buffer.from([3]));
  await tick();
  assert.equal(interrupts, 1);
  detach();
  assert.deepEqual(rawModes, [true, false]);
});
