/** An entry's stored size, by id in hex. */
type Entries = Map<string, number>;

/**
 * Which entries go first when the cache is over its bound. Two least-recently-used lists:
 * the boot set (chunks read first in a session: the reads a person waits on at the next start,
 * each read once per session, which plain LRU would push out after a long session) and the
 * rest. The rest is evicted first; the boot set is capped at `bootCap` bytes (its oldest go
 * back to the rest), so it can never take the whole cache.
 */
export class EvictionOrder {
  private readonly boot: Entries = new Map();
  private readonly rest: Entries = new Map();
  private bootBytes = 0;
  private restBytes = 0;

  constructor(private readonly bootCap: number) {}

  get bytes(): number {
    return this.bootBytes + this.restBytes;
  }

  get count(): number {
    return this.boot.size + this.rest.size;
  }

  has(hex: string): boolean {
    return this.boot.has(hex) || this.rest.has(hex);
  }

  isBoot(hex: string): boolean {
    return this.boot.has(hex);
  }

  /** Adds or replaces an entry as the most recently used, in the boot set or the rest. */
  add(hex: string, bytes: number, boot: boolean): void {
    this.remove(hex);
    if (boot) {
      this.boot.set(hex, bytes);
      this.bootBytes += bytes;
      this.capBoot();
    } else {
      this.rest.set(hex, bytes);
      this.restBytes += bytes;
    }
  }

  /** Marks a use: the entry becomes the most recently used of its list (or joins the boot set). */
  touch(hex: string, boot: boolean): void {
    const bytes = this.boot.get(hex) ?? this.rest.get(hex);
    if (bytes !== undefined) this.add(hex, bytes, boot || this.boot.has(hex));
  }

  remove(hex: string): void {
    const b = this.boot.get(hex);
    if (b !== undefined) {
      this.boot.delete(hex);
      this.bootBytes -= b;
    }
    const r = this.rest.get(hex);
    if (r !== undefined) {
      this.rest.delete(hex);
      this.restBytes -= r;
    }
  }

  /** Takes entries out, first to be evicted first, until at most `bound` bytes remain; returns their ids. */
  shrinkTo(bound: number): string[] {
    const out: string[] = [];
    for (const list of [this.rest, this.boot]) {
      for (const hex of list.keys()) {
        if (this.bytes <= bound) return out;
        this.remove(hex);
        out.push(hex);
      }
    }
    return out;
  }

  /** Every entry, first to be evicted first. */
  *inOrder(): Generator<{ hex: string; boot: boolean }> {
    for (const hex of this.rest.keys()) yield { hex, boot: false };
    for (const hex of this.boot.keys()) yield { hex, boot: true };
  }

  private capBoot(): void {
    for (const [hex, bytes] of this.boot) {
      if (this.bootBytes <= this.bootCap) return;
      this.boot.delete(hex);
      this.bootBytes -= bytes;
      this.rest.set(hex, bytes);
      this.restBytes += bytes;
    }
  }
}
