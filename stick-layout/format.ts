// Names and numbers of the stick format, as FORMAT.md gives them.

/** A stick without a user template: version 1, unchanged since it was frozen (test/fixtures/stick-v1). */
export const FORMAT_VERSION = 1;
/** A stick with a user template (FORMAT.md "Version 2: the user template"). */
export const FORMAT_VERSION_USER_TEMPLATE = 2;
/** A stick with boot files for direct kernel boot, with or without a user template (FORMAT.md "Version 3: boot files"). */
export const FORMAT_VERSION_BOOT = 3;
/** The newest format version this code reads. */
export const NEWEST_FORMAT_VERSION = FORMAT_VERSION_BOOT;

/** Files and folders of a stick, relative to its root (FORMAT.md "Folder tree"). */
export const STICK_FILES = {
  header: "stick.hdr",
  keyslots: "keyslots.bin",
  policy: "policy.json",
  baseDir: "base",
  chunksDir: "chunks",
  /** The signed manifest of the user template (format version 2 only). */
  userTemplate: "base/user-template.bin",
  /** The user disk's log (§18), made by build. */
  userDir: "user",
} as const;

/** The two slots of the boot profile (§25), written by launchers, never by build. */
export const BOOT_PROFILE_FILES = ["boot-profile-0.bin", "boot-profile-1.bin"] as const;

/** The launcher executables a stick may carry at its root, by the host they run on (FORMAT.md §2; built by `npm run build:exe`). */
export const LAUNCHER_FILES = {
  "linux-x64": "stickvm-linux-x64",
  "win-x64": "stickvm-win-x64.exe",
  "darwin-x64": "stickvm-darwin-x64",
  "darwin-arm64": "stickvm-darwin-arm64",
} as const;

/** The base version field of a user template's manifest: a template belongs to no base version. */
export const USER_TEMPLATE_BASE_VERSION = 0;

export function manifestFileName(baseVersion: number): string {
  return `${STICK_FILES.baseDir}/manifest-${baseVersion.toString().padStart(8, "0")}.bin`;
}

export function indexFileName(baseVersion: number): string {
  return `${STICK_FILES.chunksDir}/index-${baseVersion.toString().padStart(8, "0")}.bin`;
}

/** The signed boot manifest of a base version (format version 3): a base update may change the kernel. */
export function bootManifestFileName(baseVersion: number): string {
  return `${STICK_FILES.baseDir}/boot-${baseVersion.toString().padStart(8, "0")}.bin`;
}

export function packFileName(packNumber: number): string {
  return `${STICK_FILES.chunksDir}/pack-${packNumber.toString().padStart(8, "0")}.svp`;
}

export const STICK_ID_BYTES = 16;
export const LINEAGE_ID_BYTES = 16;
export const CHUNK_ID_BYTES = 32;
export const DIGEST_BYTES = 32;
export const SECTOR_BYTES = 512;

/** Chunk sizes a stick may use: powers of two in this range (FORMAT.md "Chunks"). */
export const MIN_CHUNK_SIZE = 4 * 1024;
export const MAX_CHUNK_SIZE = 4 * 1024 * 1024;
export const DEFAULT_CHUNK_SIZE = 64 * 1024;

/** A manifest of at most 1 GiB (32 bytes an entry): 2 TiB of disk at 64 KiB chunks. */
export const MAX_MANIFEST_ENTRIES = 32 * 1024 * 1024;

/** Packs stay well under FAT32's 4 GiB file limit. */
export const DEFAULT_PACK_LIMIT = 512 * 1024 * 1024;
export const MAX_PACK_LIMIT = 2 * 1024 * 1024 * 1024;

export function chunkSizeProblem(size: number): string | undefined {
  if (!Number.isInteger(size) || size < MIN_CHUNK_SIZE || size > MAX_CHUNK_SIZE || (size & (size - 1)) !== 0) {
    return `chunk size must be a power of two from ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE} bytes, got ${size}`;
  }
  return undefined;
}
