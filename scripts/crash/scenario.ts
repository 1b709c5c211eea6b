import type { FileOp, MemFiles } from "./mem-files.js";

/**
 * One store under the crash tester: a recorded run of a workload, and how to check a crash state
 * of it. To add a store (the base update switch, the key slot rewrite), write a CrashScenario
 * whose record() drives the store's own code over a MemFiles with `recording` on, and list it in
 * SCENARIOS (run-crash-test.ts).
 */
export interface CrashScenario {
  /** Names the store in reports. */
  name: string;
  /** Share of the states this store gets. */
  weight: number;
  record(seed: number): Promise<RecordedRun>;
}

export interface RecordedRun {
  /** The files when recording started. */
  base: Map<string, Buffer>;
  ops: FileOp[];
  /**
   * Opens the store on `files`, the state a crash left after `prefix` operations, and says why
   * it breaks a promise (undefined when it keeps them all): opening fails, something acknowledged
   * by then is missing or wrong, or something older is damaged. With `goOn`, the store must also
   * keep working from that state: a new acknowledged change survives a reopening.
   */
  check(files: MemFiles, prefix: number, goOn: boolean): Promise<string | undefined>;
}
