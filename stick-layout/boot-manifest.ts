import { ED25519_PUBLIC_BYTES, ED25519_SIGNATURE_BYTES, type SigningKeyPair } from "../src/crypto/signing.js";
import { ByteReader, ByteWriter, LayoutError } from "../src/util/bytes.js";
import { CHUNK_ID_BYTES, chunkSizeProblem } from "./format.js";
import { entryCountFor, readSignedHead, signedFile, type Manifest, type Signed } from "./manifest.js";

// The signed boot manifest (FORMAT.md §23.2): a kernel and an initrd for direct kernel boot,
// cut into chunks like a disk, with their exact lengths and the kernel command line.
export const BOOT_MANIFEST_MAGIC = Buffer.from("SVMBOOT\0", "latin1");
export const BOOT_MANIFEST_VERSION = 1;
const BOOT_HEAD_BYTES = 96;

/** Each boot file is at most 1 GiB: far above any kernel or initrd, and it bounds the manifest a reader loads. */
export const MAX_BOOT_FILE_BYTES = 1024 * 1024 * 1024;
/** x86 Linux takes a command line of at most 2047 bytes (COMMAND_LINE_SIZE 2048 with its NUL). */
export const MAX_BOOT_APPEND_BYTES = 2047;

/** One boot file: its exact length (the last chunk is zero-padded) and its chunks' ids, 32 bytes each. */
export interface BootFileEntries {
  size: number;
  entries: Buffer;
}

export interface BootManifest {
  baseVersion: number;
  lineageId: Buffer;
  chunkSize: number;
  createdMs: number;
  signerPublicKey: Buffer;
  kernel: BootFileEntries;
  initrd: BootFileEntries;
  /** The kernel command line, UTF-8 on the stick. */
  append: string;
}

export type BootFileName = "kernel" | "initrd";
export const BOOT_FILE_NAMES: readonly BootFileName[] = ["kernel", "initrd"];

/** Why a file of this many bytes cannot be a boot file, or undefined. */
export function bootFileSizeProblem(size: number): string | undefined {
  if (!Number.isSafeInteger(size) || size <= 0) return "is empty";
  if (size > MAX_BOOT_FILE_BYTES) return `is ${size} bytes, more than the ${MAX_BOOT_FILE_BYTES} a boot file may have`;
  return undefined;
}

/** Why these bytes cannot be the kernel command line, or undefined. */
export function bootAppendProblem(bytes: Buffer): string | undefined {
  if (bytes.length > MAX_BOOT_APPEND_BYTES) return `the kernel command line is ${bytes.length} bytes, more than the ${MAX_BOOT_APPEND_BYTES} Linux takes`;
  // the line reaches the kernel as a C string: a NUL would cut it
  if (bytes.includes(0)) return "the kernel command line contains a NUL byte";
  if (!Buffer.from(bytes.toString("utf8"), "utf8").equals(bytes)) return "the kernel command line is not valid UTF-8";
  return undefined;
}

/** A boot file as a manifest of a disk of its exact length, so it is read, counted and verified like one. */
export function bootFileManifest(m: BootManifest, file: BootFileName): Manifest {
  const { size, entries } = m[file];
  return { baseVersion: m.baseVersion, lineageId: m.lineageId, diskSize: size, chunkSize: m.chunkSize, createdMs: m.createdMs, signerPublicKey: m.signerPublicKey, entries };
}

export function encodeSignedBootManifest(m: BootManifest, key: SigningKeyPair): Buffer {
  for (const file of BOOT_FILE_NAMES) {
    if (m[file].entries.length !== entryCountFor(m[file].size, m.chunkSize) * CHUNK_ID_BYTES) throw new Error(`boot ${file} entries do not cover ${m[file].size} bytes`);
  }
  const append = Buffer.from(m.append, "utf8");
  const body = new ByteWriter()
    .bytes(BOOT_MANIFEST_MAGIC)
    .u16(BOOT_MANIFEST_VERSION)
    .zeros(2)
    .u32(m.baseVersion)
    .bytes(m.lineageId)
    .u32(m.chunkSize)
    .u32(append.length)
    .u64(m.kernel.size)
    .u64(m.initrd.size)
    .u64(m.createdMs)
    .bytes(m.signerPublicKey)
    .bytes(m.kernel.entries)
    .bytes(m.initrd.entries)
    .bytes(append)
    .finish();
  return signedFile(body, m.signerPublicKey, key);
}

export function parseBootManifest(buf: Buffer): Signed<BootManifest> {
  const what = "boot manifest";
  const r = new ByteReader(buf, what);
  const { baseVersion, lineageId } = readSignedHead(r, BOOT_MANIFEST_MAGIC, BOOT_MANIFEST_VERSION, what);
  const chunkSize = r.u32();
  const appendLength = r.u32();
  const kernelSize = r.u64();
  const initrdSize = r.u64();
  const createdMs = r.u64();
  const signerPublicKey = r.bytes(ED25519_PUBLIC_BYTES);
  if (r.offset !== BOOT_HEAD_BYTES) throw new Error("boot manifest head layout");
  const problem = chunkSizeProblem(chunkSize);
  if (problem !== undefined) throw new LayoutError(`${what}: ${problem}`);
  for (const [file, size] of [["kernel", kernelSize], ["initrd", initrdSize]] as const) {
    const sizeProblem = bootFileSizeProblem(size);
    if (sizeProblem !== undefined) throw new LayoutError(`${what}: the ${file} ${sizeProblem}`);
  }
  if (appendLength > MAX_BOOT_APPEND_BYTES) throw new LayoutError(`${what}: a ${appendLength}-byte kernel command line, more than the ${MAX_BOOT_APPEND_BYTES} Linux takes`);
  const kernelIds = entryCountFor(kernelSize, chunkSize) * CHUNK_ID_BYTES;
  const initrdIds = entryCountFor(initrdSize, chunkSize) * CHUNK_ID_BYTES;
  const expected = BOOT_HEAD_BYTES + kernelIds + initrdIds + appendLength + ED25519_SIGNATURE_BYTES;
  if (buf.length !== expected) throw new LayoutError(`${what} is ${buf.length} bytes, expected ${expected}`);
  const kernel = { size: kernelSize, entries: r.bytes(kernelIds) };
  const initrd = { size: initrdSize, entries: r.bytes(initrdIds) };
  const append = r.bytes(appendLength);
  const appendProblem = bootAppendProblem(append);
  if (appendProblem !== undefined) throw new LayoutError(`${what}: ${appendProblem}`);
  return {
    manifest: { baseVersion, lineageId, chunkSize, createdMs, signerPublicKey, kernel, initrd, append: append.toString("utf8") },
    signedBytes: buf.subarray(0, buf.length - ED25519_SIGNATURE_BYTES),
    signature: r.bytes(ED25519_SIGNATURE_BYTES),
  };
}
