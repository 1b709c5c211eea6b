import { stat } from "node:fs/promises";
import { join } from "node:path";
import { BOOT_FILE_NAMES, bootFileManifest, type BootFileName, type BootManifest } from "../../stick-layout/boot-manifest.js";
import { packFileName, STICK_FILES } from "../../stick-layout/format.js";
import { SlotKind } from "../../stick-layout/keyslots.js";
import { entryCountFor, manifestEntry, ZERO_CHUNK_ID, type Manifest } from "../../stick-layout/manifest.js";
import { CorruptStickError, fileError } from "../errors/errors.js";
import { loadBootManifest, loadChunkIndex, loadManifest, loadUserTemplate, readHeaderCopies, readKeySlots } from "../chunkstore/stick-files.js";

/** A disk's chunks: all positions, the all-zero ones, and those with data. */
interface DiskChunkCounts {
  total: number;
  zero: number;
  referenced: number;
}

function countChunks(m: Manifest): DiskChunkCounts {
  const total = entryCountFor(m.diskSize, m.chunkSize);
  let zero = 0;
  for (let i = 0; i < total; i++) if (manifestEntry(m, i).equals(ZERO_CHUNK_ID)) zero += 1;
  return { total, zero, referenced: total - zero };
}

export interface StickInfo {
  stickId: string;
  formatVersion: number;
  headerSequence: number;
  lineageId: string;
  adminPublicKey: string;
  createdAt: string;
  policy: boolean;
  base: {
    version: number;
    diskSize: number;
    chunkSize: number;
    /** `unique` counts every chunk in the packs, the user template's and boot files' included. */
    chunks: DiskChunkCounts & { unique: number };
    /** Non-zero chunks referenced per chunk stored: what identical chunks saved. */
    dedupRatio: number;
    /** Plaintext of the unique chunks per byte stored in packs. */
    compressionRatio: number;
    storedBytes: number;
    packs: number;
  };
  userDiskSize: number;
  /** The template the user disk starts from (format version 2); its chunks share the base's packs. */
  userTemplate?: { diskSize: number; chunks: DiskChunkCounts };
  /** Direct kernel boot (format version 3): each file's exact size and chunks, and the kernel command line. */
  boot?: Record<BootFileName, { size: number; chunks: DiskChunkCounts }> & { append: string };
  localDiskSize: number;
  keyslots: { kind: "passphrase" | "recovery-key"; kdf?: string }[];
  /** info reads without a passphrase, so the header MAC is not checked; `verify` does that. */
  headerAuthenticated: false;
}

/** Describes a stick without unlocking it; the manifest signature is still checked against the pinned key. */
export async function stickInfo(dir: string): Promise<StickInfo> {
  const copies = await readHeaderCopies(dir);
  const header = [...copies].sort((a, b) => b.header.sequence - a.header.sequence)[0]?.header;
  if (header === undefined) throw new Error("readHeaderCopies returned no copy");
  const slots = await readKeySlots(dir);
  const manifest = await loadManifest(dir, header);
  const template = await loadUserTemplate(dir, header, manifest);
  const bootManifest = await loadBootManifest(dir, header, manifest);
  const index = await loadChunkIndex(dir, header);

  const chunks = countChunks(manifest);
  let storedBytes = 0;
  for (let p = 0; p < index.packCount; p++) {
    const name = packFileName(p);
    try {
      storedBytes += (await stat(join(dir, name))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new CorruptStickError(`${name} is missing; make-stick verify lists the chunks lost with it`);
      throw fileError(err, "read", join(dir, name));
    }
  }
  const boot = bootManifest && bootInfo(bootManifest);
  const referencedTotal =
    chunks.referenced + (template === undefined ? 0 : countChunks(template).referenced) + (boot === undefined ? 0 : boot.kernel.chunks.referenced + boot.initrd.chunks.referenced);
  return {
    stickId: header.stickId.toString("hex"),
    formatVersion: header.formatVersion,
    headerSequence: header.sequence,
    lineageId: header.lineageId.toString("hex"),
    adminPublicKey: header.adminPublicKey.toString("base64"),
    createdAt: new Date(header.createdMs).toISOString(),
    policy: !header.policyDigest.every((b) => b === 0),
    base: {
      version: header.baseVersion,
      diskSize: manifest.diskSize,
      chunkSize: manifest.chunkSize,
      chunks: { ...chunks, unique: index.count },
      dedupRatio: index.count === 0 ? 1 : referencedTotal / index.count,
      compressionRatio: storedBytes === 0 ? 1 : (index.count * manifest.chunkSize) / storedBytes,
      storedBytes,
      packs: index.packCount,
    },
    userDiskSize: header.userDiskSize,
    ...(template === undefined ? {} : { userTemplate: { diskSize: template.diskSize, chunks: countChunks(template) } }),
    ...(boot === undefined ? {} : { boot }),
    localDiskSize: header.localDiskSize,
    keyslots: slots.slots.map((s) =>
      s.kind === SlotKind.passphrase
        ? { kind: "passphrase", kdf: `argon2id m=${s.kdf.memoryKiB}KiB t=${s.kdf.passes} p=${s.kdf.parallelism}` }
        : { kind: "recovery-key" },
    ),
    headerAuthenticated: false,
  };
}

function bootInfo(m: BootManifest): NonNullable<StickInfo["boot"]> {
  const file = (name: BootFileName) => ({ size: m[name].size, chunks: countChunks(bootFileManifest(m, name)) });
  return { kernel: file("kernel"), initrd: file("initrd"), append: m.append };
}

function formatBoot(boot: StickInfo["boot"]): string {
  if (boot === undefined) return "from the system disk";
  const files = BOOT_FILE_NAMES.map((name) => `${name} ${boot[name].size} bytes (${boot[name].chunks.total} chunks)`);
  return `${files.join(", ")}, command line ${JSON.stringify(boot.append)}`;
}

/** What else the stored count includes besides the base. */
function storedWith(i: StickInfo): string {
  const others = [...(i.userTemplate === undefined ? [] : ["the user template's"]), ...(i.boot === undefined ? [] : ["the boot files'"])];
  return others.length === 0 ? "" : ` (with ${others.join(" and ")})`;
}

function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function formatStickInfo(i: StickInfo): string {
  const b = i.base;
  return [
    `stick ${i.stickId} (format ${i.formatVersion}, header sequence ${i.headerSequence}, made ${i.createdAt})`,
    `admin key     ${i.adminPublicKey}`,
    `lineage       ${i.lineageId}`,
    `base version  ${b.version}: disk ${mib(b.diskSize)} in ${b.chunks.total} chunks of ${b.chunkSize / 1024} KiB`,
    `chunks        ${b.chunks.zero} zero, ${b.chunks.referenced} with data, ${b.chunks.unique} stored${storedWith(i)}`,
    `ratios        dedup ${b.dedupRatio.toFixed(2)}x, compression ${b.compressionRatio.toFixed(2)}x`,
    `stored        ${mib(b.storedBytes)} in ${b.packs} pack${b.packs === 1 ? "" : "s"}`,
    `user disk     ${mib(i.userDiskSize)}, ${i.userTemplate === undefined ? "starts as zeros" : `starts as the user template (${i.userTemplate.chunks.total} chunks: ${i.userTemplate.chunks.zero} zero, ${i.userTemplate.chunks.referenced} with data)`}; local disk ${mib(i.localDiskSize)}`,
    `boot          ${formatBoot(i.boot)}`,
    `policy        ${i.policy ? STICK_FILES.policy : "none"}`,
    `key slots     ${i.keyslots.map((k) => (k.kdf !== undefined ? `${k.kind} (${k.kdf})` : k.kind)).join(", ")}`,
    `(header MAC not checked without a passphrase: run make-stick verify for that)`,
  ].join("\n");
}
