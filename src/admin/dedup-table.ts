import type { IndexBuilder } from "../../stick-layout/chunk-index.js";

/** 31 bits of the id: a small integer, which V8 keeps inside the map entry (no boxed number per chunk). */
function prefix31(id: Buffer): number {
  return id.readUInt32LE(0) >>> 1;
}

/**
 * Which chunk ids a build has stored, and where. Keyed by a prefix of the id (a small
 * integer costs far less memory than a 32-byte key); the rare id that shares its prefix with
 * another stored id goes to a second map keyed by the whole id, so dedup stays exact.
 */
export class DedupTable {
  private readonly byPrefix = new Map<number, number>();
  private readonly collided = new Map<string, number>();

  constructor(
    private readonly rows: Pick<IndexBuilder, "idAt">,
    private readonly prefixOf: (id: Buffer) => number = prefix31,
  ) {}

  /** The index row holding `id`, or undefined when it has not been stored. */
  find(id: Buffer): number | undefined {
    const row = this.byPrefix.get(this.prefixOf(id));
    if (row === undefined) return undefined;
    if (this.rows.idAt(row).equals(id)) return row;
    return this.collided.get(id.toString("latin1"));
  }

  /** Records a newly stored id (one that `find` did not know). */
  add(id: Buffer, row: number): void {
    const prefix = this.prefixOf(id);
    if (this.byPrefix.has(prefix)) this.collided.set(id.toString("latin1"), row);
    else this.byPrefix.set(prefix, row);
  }
}
