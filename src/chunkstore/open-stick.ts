import type { StickHeader } from "../../stick-layout/header.js";
import type { Manifest } from "../../stick-layout/manifest.js";
import { wipeSecrets, type StickSecrets } from "../../stick-layout/secrets.js";
import { BaseImage } from "./base-image.js";
import { stickBoot, type StickBoot } from "./boot-files.js";
import { ChunkReaderPool, defaultReaderThreads, type StickReads } from "./chunk-reader-pool.js";
import type { HostCache } from "../cache/host-cache.js";
import { BootProfileSession, type BootProfileOptions, type ProfileStats } from "../cache/boot-profile-session.js";
import type { SessionStats } from "../cache/session-stats.js";
import { openStickCache, type StickCacheOptions } from "../cache/stick-cache.js";
import { ChunkMissingError } from "../errors/errors.js";
import { PackChunkStore } from "./pack-store.js";
import {
  authenticHeader,
  checkSlotsBelong,
  loadBootManifest,
  loadChunkIndex,
  loadManifest,
  loadPolicyBytes,
  loadUserTemplate,
  readHeaderCopies,
  readKeySlots,
  unlock,
  type Unlock,
} from "./stick-files.js";

export interface OpenStick {
  dir: string;
  header: StickHeader;
  manifest: Manifest;
  /** policy.json as the admin signed it into the header, if the stick has one. */
  policyBytes: Buffer | undefined;
  secrets: StickSecrets;
  store: PackChunkStore;
  base: BaseImage;
  /** The user disk's template, when the admin gave one (format version 2): its chunks share the base's packs. */
  userTemplate: BaseImage | undefined;
  /** The host cache the chunk reads go through, when one was asked for and the policy allows it. */
  cache: HostCache | undefined;
  /** The kernel, initrd and command line for direct kernel boot (format version 3); absent: boot from the system disk. */
  boot?: StickBoot;
  /** The boot profile: its prefetch and this session's recording (with `bootProfile`). */
  profile: BootProfileSession | undefined;
  /** The reads of the stick's packs so far, the boot prefetch's included (neighbouring records are read together). */
  stickReads(): StickReads;
  /** What the session's reads did; complete once closed. */
  stats(): SessionStats;
  /** Stops the prefetch and saves the profile as its rules say, closes the packs and the host cache (a kiosk's is removed) and overwrites the keys in memory. */
  close(): Promise<void>;
}

export interface OpenStickOptions {
  /** Read base chunks through a host cache. */
  hostCache?: StickCacheOptions;
  /** Prefetch the stick's boot profile (into the host cache) and record this session's. */
  bootProfile?: BootProfileOptions;
  /** Warnings about the profile (a damaged slot, a failed save): never fatal. */
  warn?: (message: string) => void;
  /** Runs once the stick is unlocked and its policy checked, before the host cache is opened (the stale residue wipe). */
  afterUnlock?: (policyBytes: Buffer | undefined) => Promise<void>;
}

/**
 * The library entry point: unlock a stick, authenticate its header, check its signed manifest
 * (and the user template's and boot manifest's) against the pinned admin key, and give access to the base image.
 * With `hostCache`, chunk reads (base, user template, boot files: all base-key chunks) go through it.
 */
export async function openStick(dir: string, how: Unlock, options: OpenStickOptions = {}): Promise<OpenStick> {
  const copies = await readHeaderCopies(dir);
  const slots = await readKeySlots(dir);
  checkSlotsBelong(copies, slots);
  const secrets = await unlock(slots, how);
  try {
    const header = authenticHeader(copies, secrets, slots);
    const policyBytes = await loadPolicyBytes(dir, header);
    const manifest = await loadManifest(dir, header);
    const templateManifest = await loadUserTemplate(dir, header, manifest);
    const bootManifest = await loadBootManifest(dir, header, manifest);
    const index = await loadChunkIndex(dir, header);
    await options.afterUnlock?.(policyBytes);
    const store = new PackChunkStore(dir, index, manifest.chunkSize);
    const cache = options.hostCache && (await openStickCache(options.hostCache, { policyBytes, secrets, stickId: header.stickId, chunkSize: manifest.chunkSize }));
    const readers = new ChunkReaderPool(dir, manifest.chunkSize, secrets.baseKey, defaultReaderThreads(), cache);
    const profile =
      options.bootProfile &&
      (await BootProfileSession.open({
        stickDir: dir,
        stickId: header.stickId,
        userKey: secrets.userKey,
        baseKey: secrets.baseKey,
        baseVersion: header.baseVersion,
        chunkSize: manifest.chunkSize,
        cache,
        locate: (id) => store.locate(id),
        urgentStickReads: readers.urgentStickReads,
        warn: options.warn ?? (() => undefined),
        options: options.bootProfile,
      }));
    let profileStats: ProfileStats | undefined;
    const readChunk = (id: Buffer, urgent: boolean): Promise<Buffer> => {
      profile?.note(id);
      const loc = store.locate(id);
      return loc === undefined ? Promise.reject(new ChunkMissingError(id.toString("hex"))) : readers.read(id, loc, urgent);
    };
    const stickReads = (): StickReads => {
      const r = readers.stickReads;
      const p = profileStats?.prefetch ?? profile?.prefetchSoFar();
      return p === undefined ? r : { reads: r.reads + p.reads, bytes: r.bytes + p.readBytes };
    };
    const base = new BaseImage(manifest, readChunk);
    const userTemplate = templateManifest === undefined ? undefined : new BaseImage(templateManifest, readChunk);
    return {
      dir,
      header,
      manifest,
      policyBytes,
      secrets,
      store,
      base,
      userTemplate,
      cache,
      ...(bootManifest === undefined ? {} : { boot: stickBoot(bootManifest, readChunk) }),
      profile,
      stickReads,
      stats: () => ({ cache: cache?.snapshot(), stickReads: stickReads(), profile: profileStats }),
      close: async () => {
        profileStats = await profile?.close();
        await readers.close();
        await cache?.close();
        await store.close();
        wipeSecrets(secrets);
      },
    };
  } catch (err) {
    wipeSecrets(secrets);
    throw err;
  }
}
