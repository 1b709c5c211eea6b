import { CHUNK_ID_BYTES } from "../../stick-layout/format.js";
import { MAX_PROFILE_CHUNKS } from "../../stick-layout/boot-profile.js";

/**
 * Records the order in which a session first asks for each chunk (guest reads and their
 * read-ahead alike: both are what the next boot needs), until stopped or full.
 */
export class BootProfileRecorder {
  private readonly seen = new Set<string>();
  private readonly ids = Buffer.alloc(MAX_PROFILE_CHUNKS * CHUNK_ID_BYTES);
  private count = 0;
  private readonly startedMs = Date.now();
  private stoppedMs: number | undefined;

  note(id: Uint8Array): void {
    if (this.stoppedMs !== undefined || this.count === MAX_PROFILE_CHUNKS) return;
    const key = Buffer.from(id).toString("hex");
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.ids.set(id, this.count * CHUNK_ID_BYTES);
    this.count++;
  }

  stop(): void {
    this.stoppedMs ??= Date.now();
  }

  get recording(): boolean {
    return this.stoppedMs === undefined;
  }

  get chunks(): number {
    return this.count;
  }

  /** The ids so far, in order (a copy). */
  recorded(): Buffer {
    return Buffer.from(this.ids.subarray(0, this.count * CHUNK_ID_BYTES));
  }

  get durationMs(): number {
    return (this.stoppedMs ?? Date.now()) - this.startedMs;
  }
}
