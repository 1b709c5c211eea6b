// The ChunkStore contract (src/chunkstore/chunk-store.ts), run against every store like restic's
// backend suite: the stick's, the host cache, and the cache composed in front of the stick.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test, type TestContext } from "node:test";
import type { ChunkStore, WritableChunkStore } from "../../src/chunkstore/chunk-store.js";
import { ChunkInvalidError, ChunkMissingError } from "../../src/errors/errors.js";

export interface StoreUnderTest {
  store: ChunkStore;
  /** The chunks the store must give (the stick's, by id in hex), sealed as on the stick. */
  chunks: Map<string, Buffer>;
  /** For writable stores: a chunk the store does not hold yet, and a sealed chunk whose seal does not open. */
  writable?: { store: WritableChunkStore; fresh: { id: Buffer; sealed: Buffer } };
}

type Open = (t: TestContext) => Promise<StoreUnderTest>;

function isMissing(err: unknown): boolean {
  return err instanceof ChunkMissingError;
}

export function chunkStoreConformance(name: string, openStore: Open): void {
  // closed in the test itself: after-hooks run in order, and the store's folders are removed by an earlier one
  const each = (what: string, body: (u: StoreUnderTest) => Promise<void>): void => {
    test(`${name}: ${what}`, async (t) => {
      const u = await openStore(t);
      try {
        await body(u);
      } finally {
        await u.store.close();
      }
    });
  };

  each("get gives each chunk exactly as stored on the stick; has says it holds it", async (u) => {
    assert.ok(u.chunks.size > 0);
    for (const [hex, sealed] of u.chunks) {
      const id = Buffer.from(hex, "hex");
      assert.ok((await u.store.get(id)).equals(sealed), hex);
      assert.equal(await u.store.has(id), true, hex);
    }
  });

  each("an unknown id is ChunkMissingError, and has says no", async (u) => {
    const unknown = randomBytes(32);
    assert.equal(await u.store.has(unknown), false);
    await assert.rejects(u.store.get(unknown), isMissing);
  });

  each("concurrent gets of one chunk all give it", async (u) => {
    const [hex, sealed] = [...u.chunks][0] ?? assert.fail("no chunk");
    const got = await Promise.all(Array.from({ length: 8 }, () => u.store.get(Buffer.from(hex, "hex"))));
    for (const g of got) assert.ok(g.equals(sealed));
  });

  each("put stores a chunk that opens, and refuses one that does not", async (u) => {
    if (u.writable === undefined) {
      assert.equal("put" in u.store, false, "a store without put in the suite must not have one");
      return;
    }
    const { store, fresh } = u.writable;
    assert.equal(await store.has(fresh.id), false);
    await store.put(fresh.id, fresh.sealed);
    assert.equal(await store.has(fresh.id), true);
    assert.ok((await store.get(fresh.id)).equals(fresh.sealed));
    const bad = randomBytes(32);
    const damaged = Buffer.from(fresh.sealed);
    damaged[damaged.length - 1] = (damaged[damaged.length - 1] ?? 0) ^ 1;
    await assert.rejects(store.put(bad, damaged), (err: unknown) => err instanceof ChunkInvalidError);
    assert.equal(await store.has(bad), false);
  });
}
