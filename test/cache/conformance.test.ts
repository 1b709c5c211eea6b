import { join } from "node:path";
import type { TestContext } from "node:test";
import { CacheChunkStore } from "../../src/cache/cache-store.js";
import { ComposedChunkStore } from "../../src/cache/composed-store.js";
import { HostCache } from "../../src/cache/host-cache.js";
import { openStick, type OpenStick } from "../../src/chunkstore/open-stick.js";
import { PASSPHRASE } from "../helpers/sticks.js";
import { baseIds, CHUNK, cacheStick } from "./cache-helpers.js";
import { chunkStoreConformance } from "./chunk-store-conformance.js";

async function stickAndChunks(t: TestContext): Promise<{ s: OpenStick; chunks: Map<string, Buffer>; dir: string }> {
  const { stick, dir } = await cacheStick(t, 6);
  const s = await openStick(stick, { passphrase: PASSPHRASE });
  t.after(() => s.close());
  const chunks = new Map<string, Buffer>();
  for (const id of baseIds(s)) chunks.set(id.toString("hex"), await s.store.get(id));
  return { s, chunks, dir };
}

async function cacheStore(t: TestContext, s: OpenStick, dir: string): Promise<CacheChunkStore> {
  const cache = await HostCache.open({ dir: join(dir, "cache", "stick"), maxBytes: 64 * CHUNK, freeShare: 1, keep: true, chunkSize: CHUNK, warn: (m) => { t.diagnostic(m); } });
  return new CacheChunkStore(cache, s.secrets.baseKey, CHUNK);
}

chunkStoreConformance("the stick's store", async (t) => {
  const { s, chunks } = await stickAndChunks(t);
  return { store: s.store, chunks };
});

chunkStoreConformance("the host cache's store", async (t) => {
  const { s, chunks, dir } = await stickAndChunks(t);
  const store = await cacheStore(t, s, dir);
  // every chunk but the last goes in; the last is the one `put` is tried with
  const all = [...chunks];
  const last = all.pop() ?? [];
  for (const [hex, sealed] of all) await store.put(Buffer.from(hex, "hex"), sealed);
  const [freshHex = "", freshSealed = Buffer.alloc(0)] = last;
  return { store, chunks: new Map(all), writable: { store, fresh: { id: Buffer.from(freshHex, "hex"), sealed: freshSealed } } };
});

chunkStoreConformance("the host cache composed in front of the stick's store", async (t) => {
  const { s, chunks, dir } = await stickAndChunks(t);
  return { store: new ComposedChunkStore(await cacheStore(t, s, dir), s.store), chunks };
});
