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
   * Calls `run` for every run of blocks, in block order: blocks that follow each other and are
   * all zeroed (`loc` undefined), or consecutive blocks of one data record (`loc` for the
   * first). Never-written blocks are in no run. Reads the arrays directly and makes no object
   * per block: a checkpoint walks every block of the disk.
   */
  forEachRun(run: (first: number, count: number, loc: BlockLocation | undefined) => void): void {
    const { state, offset, index, recordBlocks, generation, seq } = this;
    const n = this.blocks;
    let b = 0;
    while (b < n) {
      const s = state[b] ?? UNMAPPED;
      if (s === UNMAPPED) {
        b++;
        continue;
      }
      let end = b + 1;
      if (s === ZERO) {
        while (end < n && state[end] === ZERO) end++;
        run(b, end - b, undefined);
      } else {
        const o = offset[b] ?? 0;
        const q = seq[b] ?? 0;
        const i0 = index[b] ?? 0;
        while (end < n && state[end] === s && offset[end] === o && seq[end] === q && index[end] === i0 + (end - b)) end++;
        const loc = { segment: s - SEGMENT_BASE, offset: o, index: i0, blocks: recordBlocks[b] ?? 0, generation: generation[b] ?? 0, seq: q };
        run(b, end - b, loc);
      }
      b = end;
    }
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
