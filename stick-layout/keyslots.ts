import { randomBytes } from "node:crypto";
import { AEAD_OVERHEAD, AeadAuthError, open, seal } from "../src/crypto/aead.js";
import { sha256 } from "../src/crypto/hash.js";
import { argon2id, argon2ParamsProblem, hkdf32, type Argon2Params } from "../src/crypto/kdf.js";
import { ByteReader, ByteWriter, LayoutError } from "../src/util/bytes.js";
import { DIGEST_BYTES, STICK_ID_BYTES } from "./format.js";
import { decodeSecrets, encodeSecrets, SECRETS_BYTES, type StickSecrets } from "./secrets.js";

// keyslots.bin (FORMAT.md "Key slots").
export const KEYSLOTS_MAGIC = Buffer.from("SVMKEYS\0", "latin1");
export const KEYSLOTS_VERSION = 1;
export const KEYSLOT_BYTES = 256;
export const KEYSLOT_COUNT = 2;
const SALT_BYTES = 32;
const SLOT_HEAD_BYTES = 48;
const SEALED_SECRETS_BYTES = AEAD_OVERHEAD + SECRETS_BYTES;
const FILE_HEAD_BYTES = 28;
export const KEYSLOTS_FILE_BYTES = FILE_HEAD_BYTES + KEYSLOT_COUNT * KEYSLOT_BYTES + DIGEST_BYTES;

export const SlotKind = { empty: 0, passphrase: 1, recoveryKey: 2 } as const;
export type SlotKind = (typeof SlotKind)[keyof typeof SlotKind];

export interface KeySlot {
  kind: SlotKind;
  /** argon2id parameters; all zero for a recovery-key slot. */
  kdf: Argon2Params;
  salt: Buffer;
  sealedSecrets: Buffer;
}

export interface KeySlotsFile {
  stickId: Buffer;
  slots: KeySlot[];
}

function slotHead(slot: Pick<KeySlot, "kind" | "kdf" | "salt">): Buffer {
  return new ByteWriter()
    .u8(slot.kind)
    .zeros(3)
    .u32(slot.kdf.memoryKiB)
    .u32(slot.kdf.passes)
    .u32(slot.kdf.parallelism)
    .bytes(slot.salt)
    .finish();
}

function slotAad(stickId: Uint8Array, head: Buffer): Buffer {
  return Buffer.concat([Buffer.from("stickvm keyslot v1\0", "utf8"), stickId, head]);
}

async function kekFor(kind: SlotKind, secret: string | Uint8Array, kdf: Argon2Params, salt: Uint8Array): Promise<Uint8Array> {
  if (kind === SlotKind.passphrase && typeof secret === "string") return argon2id(secret, salt, kdf);
  if (kind === SlotKind.recoveryKey && typeof secret !== "string") return hkdf32(secret, salt, "stickvm recovery kek v1");
  throw new Error(`key slot kind ${kind} does not take this kind of secret`);
}

const NO_KDF: Argon2Params = { memoryKiB: 0, passes: 0, parallelism: 0 };

/** Wraps the secrets under a passphrase (argon2id) or a 32-byte recovery key (HKDF: it is already uniformly random). */
export async function makeSlot(
  stickId: Uint8Array,
  secrets: StickSecrets,
  unlock: { passphrase: string; kdf: Argon2Params } | { recoveryKey: Uint8Array },
): Promise<KeySlot> {
  const salt = randomBytes(SALT_BYTES);
  const kind = "passphrase" in unlock ? SlotKind.passphrase : SlotKind.recoveryKey;
  const kdf = "passphrase" in unlock ? unlock.kdf : NO_KDF;
  const kek = await kekFor(kind, "passphrase" in unlock ? unlock.passphrase : unlock.recoveryKey, kdf, salt);
  const head = slotHead({ kind, kdf, salt });
  const plain = encodeSecrets(secrets);
  const sealedSecrets = seal(kek, plain, slotAad(stickId, head));
  plain.fill(0);
  Buffer.from(kek.buffer, kek.byteOffset, kek.byteLength).fill(0);
  return { kind, kdf, salt, sealedSecrets };
}

export function encodeKeySlots(file: KeySlotsFile): Buffer {
  if (file.slots.length > KEYSLOT_COUNT) throw new Error("too many key slots");
  const w = new ByteWriter().bytes(KEYSLOTS_MAGIC).u16(KEYSLOTS_VERSION).u8(KEYSLOT_COUNT).u8(0).bytes(file.stickId);
  for (let i = 0; i < KEYSLOT_COUNT; i++) {
    const slot = file.slots[i];
    if (slot === undefined) {
      w.zeros(KEYSLOT_BYTES);
      continue;
    }
    const head = slotHead(slot);
    w.bytes(head).bytes(slot.sealedSecrets).zeros(KEYSLOT_BYTES - head.length - slot.sealedSecrets.length);
  }
  const bytes = w.finish();
  return Buffer.concat([bytes, sha256(bytes)]);
}

export function parseKeySlots(buf: Buffer): KeySlotsFile {
  if (buf.length !== KEYSLOTS_FILE_BYTES) {
    throw new LayoutError(`key slot file is ${buf.length} bytes, expected ${KEYSLOTS_FILE_BYTES}`);
  }
  if (!sha256(buf.subarray(0, buf.length - DIGEST_BYTES)).equals(buf.subarray(buf.length - DIGEST_BYTES))) {
    throw new LayoutError("key slot file: checksum mismatch (the file was damaged or edited)");
  }
  const r = new ByteReader(buf, "key slot file");
  r.expect(KEYSLOTS_MAGIC);
  const version = r.u16();
  if (version !== KEYSLOTS_VERSION) throw new LayoutError(`key slot file: version ${version} is not supported`);
  const count = r.u8();
  if (count !== KEYSLOT_COUNT) throw new LayoutError(`key slot file: ${count} slots, expected ${KEYSLOT_COUNT}`);
  r.zeros(1);
  const stickId = r.bytes(STICK_ID_BYTES);
  const slots: KeySlot[] = [];
  for (let i = 0; i < KEYSLOT_COUNT; i++) {
    const kind = r.u8();
    r.zeros(3);
    const kdf = { memoryKiB: r.u32(), passes: r.u32(), parallelism: r.u32() };
    const salt = r.bytes(SALT_BYTES);
    const sealedSecrets = r.bytes(SEALED_SECRETS_BYTES);
    r.zeros(KEYSLOT_BYTES - SLOT_HEAD_BYTES - SEALED_SECRETS_BYTES);
    const slotBytes = buf.subarray(FILE_HEAD_BYTES + i * KEYSLOT_BYTES, FILE_HEAD_BYTES + (i + 1) * KEYSLOT_BYTES);
    if (kind === SlotKind.empty) {
      if (slotBytes.some((b) => b !== 0)) throw new LayoutError(`key slot ${i}: an empty slot must be all zeros`);
      continue;
    }
    if (kind !== SlotKind.passphrase && kind !== SlotKind.recoveryKey) throw new LayoutError(`key slot ${i}: unknown kind ${kind}`);
    if (kind === SlotKind.passphrase) {
      const problem = argon2ParamsProblem(kdf);
      if (problem !== undefined) throw new LayoutError(`key slot ${i}: ${problem}`);
    } else if (kdf.memoryKiB !== 0 || kdf.passes !== 0 || kdf.parallelism !== 0) {
      throw new LayoutError(`key slot ${i}: a recovery-key slot has no argon2id parameters`);
    }
    slots.push({ kind, kdf, salt, sealedSecrets });
  }
  return { stickId, slots };
}

/** Tries each slot of the matching kind; undefined when none opens (wrong passphrase or key). */
export async function unlockSlots(file: KeySlotsFile, secret: string | Uint8Array): Promise<StickSecrets | undefined> {
  const kind = typeof secret === "string" ? SlotKind.passphrase : SlotKind.recoveryKey;
  for (const slot of file.slots) {
    if (slot.kind !== kind) continue;
    const kek = await kekFor(kind, secret, slot.kdf, slot.salt);
    try {
      return decodeSecrets(open(kek, slot.sealedSecrets, slotAad(file.stickId, slotHead(slot))));
    } catch (err) {
      if (!(err instanceof AeadAuthError)) throw err;
    } finally {
      Buffer.from(kek.buffer, kek.byteOffset, kek.byteLength).fill(0);
    }
  }
  return undefined;
}

