import { hkdf32 } from "../../crypto/kdf.js";

// Sub-keys of the 32-byte key the caller passes, salted with the log id, so two logs under one
// key (user, system changes) share nothing; one data key per generation (open for writing), so
// no key ever seals enough values for random 96-bit nonces to risk a collision.

export class LogKeys {
  readonly superblockMac: Buffer;
  private readonly dataKeys = new Map<number, Buffer>();

  constructor(
    private readonly key: Buffer,
    private readonly logId: Buffer,
  ) {
    this.superblockMac = hkdf32(key, logId, "stickvm log superblock mac v1");
  }

  data(generation: number): Buffer {
    let k = this.dataKeys.get(generation);
    if (k === undefined) {
      const salt = Buffer.alloc(this.logId.length + 4);
      this.logId.copy(salt);
      salt.writeUInt32LE(generation, this.logId.length);
      k = hkdf32(this.key, salt, "stickvm log data key v1");
      this.dataKeys.set(generation, k);
    }
    return k;
  }

  /** Overwrites the derived keys (the caller's key is the caller's to wipe). */
  wipe(): void {
    this.superblockMac.fill(0);
    for (const k of this.dataKeys.values()) k.fill(0);
    this.dataKeys.clear();
  }
}
