// Block → where its current contents are. Dense typed arrays, 20 bytes a block (a 4 GiB disk:
// 20 MiB), so lookups are O(1) and there is no object per block.

export const UNMAPPED = 0; // never written: reads from the lower device, or zeros
export const ZERO = 1; // written as zeros (trim, writeZeroes)
const SEGMENT_BASE = 2; // state s + 2: data in segment s

export interface BlockLocation {
  segment: number;
  offset: number;
  generation: number;
  seq: number;
}

export class ExtentMap {
  private readonly state: Uint32Array;
  private readonly offset: Uint32Array;
  private readonly generation: Uint32Array;
  private readonly seq: Float64Array;
  /** Blocks whose current data lies in each segment. */
  readonly live: Uint32Array;

  constructor(
    readonly blocks: number,
    segments: number,
  ) {
    this.state = new Uint32Array(blocks);
    this.offset = new Uint32Array(blocks);
    this.generation = new Uint32Array(blocks);
    this.seq = new Float64Array(blocks);
    this.live = new Uint32Array(segments);
  }

  /** UNMAPPED, ZERO, or the block's data location. */
  get(block: number): typeof UNMAPPED | typeof ZERO | BlockLocation {
    const s = this.state[block] ?? UNMAPPED;
    if (s < SEGMENT_BASE) return s as typeof UNMAPPED | typeof ZERO;
    return {
      segment: s - SEGMENT_BASE,
      offset: this.offset[block] ?? 0,
      generation: this.generation[block] ?? 0,
      seq: this.seq[block] ?? 0,
    };
  }

  /** The segment holding the block's data, or -1. */
  segmentOf(block: number): number {
    return (this.state[block] ?? UNMAPPED) - SEGMENT_BASE;
  }

  setData(block: number, loc: BlockLocation): void {
    this.release(block);
    this.state[block] = loc.segment + SEGMENT_BASE;
    this.offset[block] = loc.offset;
    this.generation[block] = loc.generation;
    this.seq[block] = loc.seq;
    this.live[loc.segment] = (this.live[loc.segment] ?? 0) + 1;
  }

  setZero(block: number): void {
    this.release(block);
    this.state[block] = ZERO;
  }

  private release(block: number): void {
    const seg = this.segmentOf(block);
    if (seg >= 0) this.live[seg] = (this.live[seg] ?? 1) - 1;
  }
}
