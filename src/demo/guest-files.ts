import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The guests' scripts and files, in the repository: tsc copies only .ts, and this runs from
 * dist/src/demo. Only scripts/demo.ts and tests build guests, never the bundled launcher.
 */
export const GUEST_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "src", "demo", "guest");
