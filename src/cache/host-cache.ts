import { mkdir, readdir, readFile, rename, rm, rmdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { freeSpaceFor } from "../host/cache-dir.js";
import { AEAD_OVERHEAD } from "../crypto/aead.js";
import { syncFolder, writeNewFileDurably } from "../util/durable-file.js";
import { LayoutError } from "../util/bytes.js";
import { emptyStats, type CacheStats } from "./cache-stats.js";
import { encodeMeta, META_FILE, parseMeta, type MetaEntry } from "./cache-meta.js";
import { CHUNKS_DIR, ENTRY_NAME, TMP_SUFFIX, type WriteFailure } from "./entry-files.js";
import { EvictionOrder } from "./eviction.js";
import { DEFAULT_WIPE_PASSES } from "../securewipe/residue.js";
import { wipeTree } from "../securewipe/wipe-file.js";
import type { CacheJob, CacheReport } from "./read-through.js";

/** Below this many chunks of room the cache would only churn: it stays off. */
const MIN_CHUNKS = 4;

export interface HostCacheOptions {
  /** This stick's folder in the cache root (cache-folder.ts). */
  dir: string;
  /** The policy's bounds: bytes, and a share of the free disk (counting what the cache holds). */
  maxBytes: number;
  freeShare: number;
  /** A trusted host keeps the cache for the next session; a kiosk's is removed at close. */
  keep: boolean;
  chunkSize: number;
  warn: (message: string) => void;
  /** Overwrite passes when a kiosk's cache is wiped at close (default 1). */
  wipePasses?: number;
}

/**
 * The host cache of one stick: its index in memory (which entries there are, their sizes, the
 * eviction order), its bound and its counters. The entries themselves are read and written by
 * the chunk reader threads (read-through.ts), which report back through `settle`; the main
 * thread evicts. The folder is the truth about what is held (scanned at open); `index.bin`
 * only keeps the order across sessions.
 */
export class HostCache {
  private readonly stats = emptyStats();
  /** The first chunks read this session, up to half the bound: the boot set. */
  private readonly early = new Set<string>();
  private earlyLeft: number;
  private readonly evicting = new Set<Promise<void>>();
  private warnedBad = false;

  private constructor(
    private readonly o: HostCacheOptions,
    private readonly order: EvictionOrder,
    private readonly bound: number,
    off: string | undefined,
  ) {
    this.stats.boundBytes = bound;
    this.stats.off = off;
    // as many chunks as the boot set's cap surely holds: a chunk stored raw is its size, an encoding byte and the AEAD overhead
    this.earlyLeft = Math.floor(bound / 2 / (o.chunkSize + 1 + AEAD_OVERHEAD));
  }

  /** Opens (creating) the folder; every problem turns the cache off or empties it with a warning, never fails the session. */
  static async open(o: HostCacheOptions): Promise<HostCache> {
    try {
      await mkdir(join(o.dir, CHUNKS_DIR), { recursive: true, mode: 0o700 });
    } catch (err) {
      return HostCache.off(o, `its folder ${o.dir} cannot be made: ${(err as Error).message}`);
    }
    const free = await freeSpaceFor(o.dir);
    if (free === undefined) return HostCache.off(o, `the free space at ${o.dir} cannot be measured`);
    let listed: Map<string, boolean>;
    let held: Map<string, number>;
    try {
      listed = await loadMeta(o);
      held = await scanEntries(o.dir);
    } catch (err) {
      return HostCache.off(o, `its folder ${o.dir} cannot be read: ${(err as Error).message}`);
    }
    const heldBytes = [...held.values()].reduce((a, b) => a + b, 0);
    const bound = Math.min(o.maxBytes, Math.floor(o.freeShare * (free.freeBytes + heldBytes)));
    if (bound < MIN_CHUNKS * o.chunkSize) {
      return HostCache.off(o, `there is no room for it on the host disk (${free.freeBytes} bytes free at ${free.measuredAt}, the policy allows ${bound})`);
    }
    const ordered = new EvictionOrder(Math.floor(bound / 2));
    // entries the index does not list (a session that ended without writing it) go first
    for (const [h, bytes] of held) if (!listed.has(h)) ordered.add(h, bytes, false);
    for (const [h, boot] of listed) {
      const bytes = held.get(h);
      if (bytes !== undefined) ordered.add(h, bytes, boot);
    }
    const cache = new HostCache(o, ordered, bound, undefined);
    cache.evict();
    return cache;
  }

  private static off(o: HostCacheOptions, why: string): HostCache {
    o.warn(`the host cache is off for this session: ${why}; chunks come from the stick`);
    return new HostCache(o, new EvictionOrder(0), 0, why);
  }

  get dir(): string {
    return this.o.dir;
  }

  get isOn(): boolean {
    return this.stats.off === undefined;
  }

  holds(id: Uint8Array): boolean {
    return this.isOn && this.order.has(hex(id));
  }

  /** What a reader thread should do about chunk `id`; also records the session's first reads (the boot set). */
  job(id: Uint8Array): CacheJob {
    this.markEarly(hex(id));
    return { dir: this.o.dir, cached: this.holds(id), store: this.isOn };
  }

  private markEarly(h: string): void {
    if (this.earlyLeft > 0 && !this.early.has(h)) {
      this.early.add(h);
      this.earlyLeft--;
    }
  }

  /** Bytes a boot prefetch may bring in: the boot set's share of the bound, so that it never evicts what it fetched. */
  get prefetchBudget(): number {
    return this.isOn ? Math.floor(this.bound / 2) : 0;
  }

  /** A boot prefetch stored chunk `id`: it joins the boot set. */
  notePrefetched(id: Uint8Array, bytes: number): void {
    if (!this.isOn) return;
    const h = hex(id);
    this.stats.prefetched++;
    this.stats.bytesPrefetched += bytes;
    this.markEarly(h);
    this.order.add(h, bytes, true);
    this.evict();
  }

  /** A reader thread's report on chunk `id`. */
  settle(id: Uint8Array, r: CacheReport): void {
    const h = hex(id);
    if (r.bad !== undefined) this.noteBad(h, r.bad);
    if (r.from === "cache") this.noteHit(h, r.bytes);
    else this.noteStickRead(r.bytes);
    if (r.stored === true) this.noteStored(h, r.bytes);
    if (r.storeFailed !== undefined) this.noteStoreFailed(r.storeFailed);
  }

  noteHit(h: string, bytes: number): void {
    this.stats.hits++;
    this.stats.bytesFromCache += bytes;
    this.order.touch(h, this.early.has(h));
  }

  noteStickRead(bytes: number): void {
    this.stats.misses++;
    this.stats.bytesFromStick += bytes;
  }

  /** An entry the index holds was missing or did not open (it has been removed). */
  noteBad(h: string, why: string): void {
    if (!this.order.has(h)) return; // evicted meanwhile: not the entry's fault
    this.order.remove(h);
    this.stats.badEntries++;
    if (!this.warnedBad) this.o.warn(`a host cache entry was bad (${why}): removed and read from the stick again (later ones are only counted)`);
    this.warnedBad = true;
  }

  noteStored(h: string, bytes: number): void {
    if (!this.isOn) return; // stored by a read that started before the cache went off
    this.stats.inserts++;
    this.order.add(h, bytes, this.early.has(h));
    this.evict();
  }

  /** Writing an entry failed: the cache goes off, and reads go on from the stick. */
  noteStoreFailed(f: WriteFailure): void {
    if (!this.isOn) return;
    const why = f.noSpace ? `the host disk that holds ${this.o.dir} is full` : `an entry could not be written: ${f.message}`;
    this.stats.off = why;
    this.o.warn(`the host cache is off for the rest of this session: ${why}; chunks come from the stick`);
  }

  snapshot(): CacheStats {
    return { ...this.stats, heldBytes: this.order.bytes };
  }

  private evict(): void {
    for (const h of this.order.shrinkTo(this.bound)) {
      this.stats.evictions++;
      // a file that cannot be removed stays valid; the next open's scan counts it again
      const p = rm(join(this.o.dir, CHUNKS_DIR, h.slice(0, 2), h), { force: true }).catch(() => undefined);
      this.evicting.add(p);
      void p.then(() => this.evicting.delete(p));
    }
  }

  /** Resolves once the files of the entries evicted so far are gone (removal runs in the background). */
  async evictionsDone(): Promise<void> {
    await Promise.all(this.evicting);
  }

  /** A kiosk's cache is removed; a trusted host's keeps its entries, and the index is written for the next session's order. */
  async close(): Promise<void> {
    await this.evictionsDone();
    if (!this.o.keep) {
      await wipeTree(this.o.dir, this.o.wipePasses ?? DEFAULT_WIPE_PASSES).catch((err: unknown) => { this.o.warn(`the host cache ${this.o.dir} could not be wiped: ${(err as Error).message}`); });
      // the root too, when this was its last stick (it may be the OS's cache folder's only trace of us)
      await rmdir(dirname(this.o.dir)).catch(() => undefined);
      return;
    }
    if (this.stats.boundBytes === 0) return; // off from the start: nothing of this session to record
    const entries: MetaEntry[] = [...this.order.inOrder()].map((e) => ({ id: Buffer.from(e.hex, "hex"), boot: e.boot }));
    const path = join(this.o.dir, META_FILE);
    const tmp = `${path}.${String(process.pid)}${TMP_SUFFIX}`;
    try {
      await rm(tmp, { force: true });
      await writeNewFileDurably(tmp, encodeMeta(entries), 0o600);
      await rename(tmp, path);
      await syncFolder(this.o.dir);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      this.o.warn(`the host cache's index could not be written (${(err as Error).message}): the next session orders its entries afresh`);
    }
  }
}

function hex(id: Uint8Array): string {
  return Buffer.from(id).toString("hex");
}

/** The index's order (id in hex → boot), or empty. A damaged index empties the cache, with a warning. */
async function loadMeta(o: HostCacheOptions): Promise<Map<string, boolean>> {
  const path = join(o.dir, META_FILE);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch {
    return new Map();
  }
  try {
    return new Map(parseMeta(bytes).map((e) => [e.id.toString("hex"), e.boot]));
  } catch (err) {
    if (!(err instanceof LayoutError)) throw err;
    o.warn(`the host cache's index ${path} is damaged (${err.message}): the cache was emptied`);
    await rm(join(o.dir, CHUNKS_DIR), { recursive: true, force: true });
    await rm(path, { force: true });
    await mkdir(join(o.dir, CHUNKS_DIR), { recursive: true, mode: 0o700 });
    return new Map();
  }
}

/** The entries in the folder and their sizes; temporary files a killed launcher left are removed. */
async function scanEntries(dir: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const root = join(dir, CHUNKS_DIR);
  for (const shard of await readdir(root, { withFileTypes: true })) {
    if (!shard.isDirectory()) continue;
    const shardDir = join(root, shard.name);
    await Promise.all(
      (await readdir(shardDir)).map(async (name) => {
        const path = join(shardDir, name);
        if (name.endsWith(TMP_SUFFIX)) await rm(path, { force: true });
        else if (ENTRY_NAME.test(name) && name.startsWith(shard.name)) {
          // gone meanwhile (another process evicted it): not held
          const size = await stat(path).then((s) => s.size, () => undefined);
          if (size !== undefined) out.set(name, size);
        }
      }),
    );
  }
  return out;
}
