import { createCipheriv, type Cipher } from "node:crypto";
import { readSync } from "node:fs";
import { freeNow } from "../util/free-now.js";

// The unpacked file's cipher (AES-256-CTR, the counter the file offset / 16 after an 8-byte
// nonce) and its reads, shared by the main thread and the unpacked reader thread.

/** Bytes deciphered per cipher call: under glibc's 128 KiB mmap threshold (see decipherInPlace). */
const DECIPHER_SLICE_BYTES = 64 * 1024;

export interface UnpackedKey {
  key: Uint8Array;
  nonce: Uint8Array;
}

/** AES-CTR from file offset `offset` (a multiple of 16): encrypts and decrypts alike. */
export function unpackedCipher(k: UnpackedKey, offset: number): Cipher {
  const iv = Buffer.alloc(16);
  iv.set(k.nonce, 0);
  iv.writeBigUInt64BE(BigInt(offset / 16), 8);
  return createCipheriv("aes-256-ctr", k.key, iv);
}

/**
 * The plaintext of the file's bytes [offset, offset + into.length), into `into`. Only the
 * range is read and deciphered: CTR starts at any 16-byte block. A range that does not start
 * on one is read from the block before it, through `scratch` when that is long enough. Throws
 * the file error as is.
 */
export function readDeciphered(fd: number, k: UnpackedKey, offset: number, into: Uint8Array, scratch: Uint8Array): void {
  const head = offset % 16;
  if (head === 0) {
    readFully(fd, into, offset);
    decipherInPlace(k, into, offset);
    return;
  }
  const start = offset - head;
  const total = into.length + head;
  const raw = total <= scratch.length ? scratch.subarray(0, total) : new Uint8Array(total);
  readFully(fd, raw, start);
  decipherInPlace(k, raw, start);
  into.set(raw.subarray(head));
}

function readFully(fd: number, buf: Uint8Array, position: number): void {
  for (let done = 0; done < buf.length; ) {
    const n = readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) throw new Error("the file is shorter than what was stored in it");
    done += n;
  }
}

/**
 * Deciphers `buf`, which holds the file from `offset` (a multiple of 16), in place, slice by
 * slice: the cipher returns each slice in a new buffer, whose memory is freed once copied, so the
 * next slice reuses the same heap memory, where a whole 256 KiB read would be mapped afresh (a
 * page fault each 4 KiB) every time.
 */
function decipherInPlace(k: UnpackedKey, buf: Uint8Array, offset: number): void {
  const cipher = unpackedCipher(k, offset);
  for (let at = 0; at < buf.length; at += DECIPHER_SLICE_BYTES) {
    const out = cipher.update(buf.subarray(at, at + DECIPHER_SLICE_BYTES));
    buf.set(out, at);
    freeNow(out);
  }
}
