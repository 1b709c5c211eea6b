import type { Region } from "./wipe-file.js";

/** Granularity: 1 MiB of file per mark, so that even a large sparse file costs little memory to track. */
const GRAIN = 1024 * 1024;

/**
 * The parts of a sparse file its owner wrote, so that wiping it overwrites those and not the
 * holes between them (a sparse file of a 64 GiB disk would otherwise be overwritten, or read,
 * whole at the end of every session).
 */
export class WrittenRegions {
  private readonly grains = new Set<number>();

  mark(offset: number, length: number): void {
    for (let g = Math.floor(offset / GRAIN); g * GRAIN < offset + length; g++) this.grains.add(g);
  }

  /** The marked parts, in order, neighbours joined. */
  regions(): Region[] {
    const out: Region[] = [];
    for (const g of [...this.grains].sort((a, b) => a - b)) {
      const last = out.at(-1);
      if (last !== undefined && last.offset + last.length === g * GRAIN) last.length += GRAIN;
      else out.push({ offset: g * GRAIN, length: GRAIN });
    }
    return out;
  }
}
