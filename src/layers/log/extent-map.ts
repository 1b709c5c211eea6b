// Block → where its current contents are. Dense typed arrays, 22 bytes a block (a 4 GiB disk:
// 22 MiB), so lookups are O(1) and there is no object per block.

export const UNMAPPED = 0; // never written: reads from the lower device, or zeros
export const ZERO = 1; // written as zeros (trim, writeZeroes)
const SEGMENT_BASE = 2; // state s + 2: data in segment s

/** A block inside a data record: the record's sealed blocks start at `offset`; the block is number `index` of `blocks`. */
export interface BlockLocation {
  segment: number;
  offset: number;
  index: number;
  blocks: number;
  generation: number;
  seq: number;
}

export class ExtentMap {
  private readonly state: Uint32Array;
  private readonly offset: Uint32Array;
  private readonly index: Uint8Array;
  private readonly recordBlocks: Uint8Array;
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
    this.index = new Uint8Array(blocks);
    this.recordBlocks = new Uint8Array(blocks);
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
      index: this.index[block] ?? 0,
      blocks: this.recordBlocks[block] ?? 0,
      generation: this.generation[block] ?? 0,
      seq: this.seq[block] ?? 0,
    };
  }

  /** The segment holding the block's data, or -1. */
  segmentOf(block: number): number {
    return (this.state[block] ?? UNMAPPED) - SEGMENT_BASE;
  }

  /**
   * How many blocks from `block` on form one run: all zeroed, or consecutive blocks of one record
   * (0 when `block` was never written). Reads the arrays directly: checkpoints call it per block.
   */
  runLength(block: number): number {
    const s = this.state[block] ?? UNMAPPED;
    if (s === UNMAPPED) return 0;
    let n = 1;
    if (s === ZERO) {
      while (block + n < this.blocks && this.state[block + n] === ZERO) n++;
      return n;
    }
    const { offset, index, generation, seq } = this;
    for (let b = block + 1; b < this.blocks; b++, n++) {
      const same =
        this.state[b] === s && offset[b] === offset[block] && seq[b] === seq[block] && generation[b] === generation[block] && index[b] === (index[block] ?? 0) + n;
      if (!same) break;
    }
    return n;
  }

  setData(block: number, loc: BlockLocation): void {
    this.release(block);
    this.state[block] = loc.segment + SEGMENT_BASE;
    this.offset[block] = loc.offset;
    this.index[block] = loc.index;
    this.recordBlocks[block] = loc.blocks;
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
