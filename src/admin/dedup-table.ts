import type { IndexBuilder } from "../../stick-layout/chunk-index.js";

/**
 * Which chunk ids a build has stored, and where. Keyed by the first bytes of the id (a
 * number costs far less memory than a 32-byte key); the rare id that shares its prefix with
 * another stored id goes to a second map keyed by the whole id, so dedup stays exact.
 */
export class DedupTable {
  private readonly byPrefix = new Map<number, number>();
  private readonly collided = new Map<string, number>();

  constructor(
    private readonly rows: Pick<IndexBuilder, "idAt">,
    private readonly prefixBytes = 6,
  ) {}

  /** The index row holding `id`, or undefined when it has not been stored. */
  find(id: Buffer): number | undefined {
    const row = this.byPrefix.get(id.readUIntLE(0, this.prefixBytes));
    if (row === undefined) return undefined;
    if (this.rows.idAt(row).equals(id)) return row;
    return this.collided.get(id.toString("latin1"));
  }

  /** Records a newly stored id (one that `find` did not know). */
  add(id: Buffer, row: number): void {
    const prefix = id.readUIntLE(0, this.prefixBytes);
    if (this.byPrefix.has(prefix)) this.collided.set(id.toString("latin1"), row);
    else this.byPrefix.set(prefix, row);
  }
}
