import { bootFileManifest } from "../../stick-layout/boot-manifest.js";
import type { IndexEntry } from "../../stick-layout/chunk-index.js";
import { packFileName } from "../../stick-layout/format.js";
import { headerMacValid } from "../../stick-layout/header.js";
import { entryCountFor, manifestEntry, ZERO_CHUNK_ID, type Manifest } from "../../stick-layout/manifest.js";
import { wipeSecrets } from "../../stick-layout/secrets.js";
import { ChunkDecodeError, decodeChunk } from "../chunkstore/chunk-codec.js";
import { PackChunkStore } from "../chunkstore/pack-store.js";
import {
  authenticHeader,
  checkSlotsBelong,
  loadBootManifest,
  loadChunkIndex,
  loadManifest,
  loadPolicyBytes,
  loadUserTemplate,
  readHeaderCopies,
  readKeySlotsFile,
  unlock,
  type Unlock,
} from "../chunkstore/stick-files.js";
import { CorruptStickError, StickvmError } from "../errors/errors.js";
import { stickPolicy } from "../policy/policy-schema.js";
import { stickPlayers, verifyPlayer } from "../player/verify-player.js";

/** The disks a stick's manifests describe, and the boot files, which are cut into chunks like disks. */
export type DiskName = "base" | "user template" | "boot kernel" | "boot initrd";

export interface BadChunk {
  id: string;
  pack: string;
  offset: number;
  problem: string;
  /** The disks whose manifests name this chunk (none: a chunk in the packs that no manifest uses). */
  usedBy: DiskName[];
}

export interface VerifyReport {
  ok: boolean;
  checks: { check: string; ok: boolean; problem?: string }[];
  chunksChecked: number;
  badChunks: BadChunk[];
}

/** A failure of the stick's data (reported), as opposed to a wrong passphrase or an I/O error (thrown). */
function isStickFault(err: unknown): err is StickvmError {
  return err instanceof StickvmError && ["INCOMPLETE_STICK", "CORRUPT_STICK", "CHUNK_MISSING", "CHUNK_INVALID"].includes(err.code);
}

/**
 * Checks everything a stick's trust rests on: header MAC, policy digest, manifest signature
 * against the pinned key, and that every chunk decrypts and hashes to its id. Every bad chunk
 * is named with its pack and offset; the report's `ok` is false on any fault.
 */
export async function verifyStick(dir: string, how: Unlock, onProgress?: (done: number, total: number) => void): Promise<VerifyReport> {
  const report: VerifyReport = { ok: false, checks: [], chunksChecked: 0, badChunks: [] };
  const step = async <T>(check: string, run: () => Promise<T> | T): Promise<T | undefined> => {
    try {
      const v = await run();
      report.checks.push({ check, ok: true });
      return v;
    } catch (err) {
      if (!isStickFault(err)) throw err;
      report.checks.push({ check, ok: false, problem: err.message });
      return undefined;
    }
  };

  const copies = await step("header readable", () => readHeaderCopies(dir));
  const read = await step("key slots readable", () => readKeySlotsFile(dir));
  if (copies === undefined || read === undefined) return report;
  const slots = read.slots;
  await step("keyslots.bin whole", () => {
    if (read.fromNext) throw new CorruptStickError("keyslots.bin is torn (an interrupted stickvm passwd): the stick opens from keyslots.new, with no spare; run stickvm passwd again");
  });
  const belong = await step("key slots belong to this stick", () => {
    checkSlotsBelong(copies, slots);
    return true;
  });
  if (belong !== true) return report;
  const secrets = await unlock(slots, how);
  try {
    const header = await step("header MAC", () => authenticHeader(copies, secrets, slots));
    if (header === undefined) return report;
    await step("both header copies", () => {
      const good = copies.filter((c) => headerMacValid(c, secrets.headerMacKey)).length;
      if (good < 2) throw new CorruptStickError(`${2 - good} of the 2 header copies is damaged: the stick still opens, but has no spare`);
    });
    const policy = await step("policy digest", async () => ({ bytes: await loadPolicyBytes(dir, header) }));
    if (policy?.bytes !== undefined) await step("policy schema (docs/POLICY.md)", () => stickPolicy(policy.bytes));
    for (const target of await stickPlayers(dir)) {
      await step(`player ${target} files (damage only: players are not signed, FORMAT.md §22.3)`, async () => {
        await verifyPlayer(dir, target);
        return true;
      });
    }
    const manifest = await step("manifest signature", () => loadManifest(dir, header));
    const disks: [DiskName, Manifest][] = manifest === undefined ? [] : [["base", manifest]];
    // a manifest the header names but that fails its check leaves chunks nobody can attribute: no chunk check then
    let extraFailed = false;
    if (manifest !== undefined && header.userTemplateDigest !== undefined) {
      const template = await step("user template manifest", () => loadUserTemplate(dir, header, manifest));
      if (template === undefined) extraFailed = true;
      else disks.push(["user template", template]);
    }
    if (manifest !== undefined && header.bootDigest !== undefined) {
      const boot = await step("boot manifest", () => loadBootManifest(dir, header, manifest));
      if (boot === undefined) extraFailed = true;
      else disks.push(["boot kernel", bootFileManifest(boot, "kernel")], ["boot initrd", bootFileManifest(boot, "initrd")]);
    }
    const index = await step("chunk index", () => loadChunkIndex(dir, header));
    if (manifest === undefined || index === undefined || extraFailed) return finish(report);

    const store = new PackChunkStore(dir, index, manifest.chunkSize);
    try {
      const missing = new Set<string>();
      for (const [, m] of disks) {
        for (let i = 0; i < entryCountFor(m.diskSize, m.chunkSize); i++) {
          const id = manifestEntry(m, i);
          if (!id.equals(ZERO_CHUNK_ID) && index.find(id) === undefined) missing.add(id.toString("hex"));
        }
      }
      for (const id of missing) report.badChunks.push({ id, pack: "-", offset: -1, problem: "the manifest names it but no pack holds it", usedBy: [] });

      // Pack order, so the stick is read front to back.
      const entries: IndexEntry[] = [...index.entries()].sort((a, b) => a.pack - b.pack || a.offset - b.offset);
      for (const e of entries) {
        try {
          decodeChunk(secrets, e.id, await store.readAt(e.id, e), manifest.chunkSize);
        } catch (err) {
          const problem = err instanceof ChunkDecodeError ? err.message : isStickFault(err) ? err.message : undefined;
          if (problem === undefined) throw err;
          report.badChunks.push({ id: e.id.toString("hex"), pack: packFileName(e.pack), offset: e.offset, problem, usedBy: [] });
        }
        report.chunksChecked += 1;
        onProgress?.(report.chunksChecked, entries.length);
      }
      nameUsers(report.badChunks, disks);
    } finally {
      await store.close();
    }
    report.checks.push({
      check: "chunks",
      ok: report.badChunks.length === 0,
      ...(report.badChunks.length > 0 ? { problem: `${report.badChunks.length} bad or missing chunks` } : {}),
    });
    return finish(report);
  } finally {
    wipeSecrets(secrets);
  }
}

/** Says, for each bad chunk, which disks use it (only when there are bad chunks: it holds every id of each disk). */
function nameUsers(bad: BadChunk[], disks: [DiskName, Manifest][]): void {
  if (bad.length === 0) return;
  for (const [name, m] of disks) {
    const ids = new Set<string>();
    for (let i = 0; i < entryCountFor(m.diskSize, m.chunkSize); i++) ids.add(manifestEntry(m, i).toString("hex"));
    for (const b of bad) if (ids.has(b.id)) b.usedBy.push(name);
  }
}

function finish(report: VerifyReport): VerifyReport {
  report.ok = report.checks.every((c) => c.ok) && report.badChunks.length === 0;
  return report;
}

export function formatVerifyReport(r: VerifyReport): string {
  const lines = r.checks.map((c) => `${c.ok ? "ok  " : "FAIL"} ${c.check}${c.problem !== undefined ? `: ${c.problem}` : ""}`);
  for (const b of r.badChunks) {
    const users = b.usedBy.length > 0 ? ` (used by the ${b.usedBy.join(" and the ")})` : "";
    lines.push(`bad chunk ${b.id}${users} in ${b.pack}${b.offset >= 0 ? ` at offset ${b.offset}` : ""}: ${b.problem}`);
  }
  lines.push(r.ok ? `stick is good: ${r.chunksChecked} chunks checked` : "stick is DAMAGED");
  return lines.join("\n");
}
