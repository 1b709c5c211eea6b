import { MessageChannel } from "node:worker_threads";

const MIN_BYTES = 4096;

/** A closed port: a buffer transferred through it is detached and its memory freed with the dropped message. */
const sink = new MessageChannel().port1;
sink.close();

/**
 * Frees the memory of a buffer nothing else will read (a cipher's output once copied) now,
 * rather than when the garbage collector finds it. Node allocates a new buffer for every cipher
 * call: at hundreds of MB/s that garbage makes V8 run a full collection every few dozen
 * milliseconds and holds tens of MB in the process until it does. Only a buffer that owns all
 * of its memory is freed (a view of a pool or of a larger buffer is left alone); afterwards it
 * is empty. Buffers under 4 KiB are left to the collector.
 */
export function freeNow(buf: Uint8Array): void {
  const memory = buf.buffer;
  if (!(memory instanceof ArrayBuffer) || buf.byteOffset !== 0 || buf.byteLength !== memory.byteLength) return;
  // a small one costs the collector little and the message more
  if (memory.byteLength < MIN_BYTES) return;
  sink.postMessage(null, [memory]);
}
