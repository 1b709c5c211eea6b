import assert from "node:assert/strict";
import { test } from "node:test";
import { quietRepeats, REPEAT_WINDOW_MS } from "../../src/nbd/quiet-repeats.js";

test("a warning repeated within the window is counted, and the count comes with its next print", () => {
  const lines: string[] = [];
  let now = 1000;
  const log = quietRepeats((level, message) => lines.push(`${level} ${message}`), () => now);
  log("warn", "stick gone");
  log("warn", "stick gone");
  log("warn", "other");
  log("debug", "detail");
  log("debug", "detail");
  now += REPEAT_WINDOW_MS - 1;
  log("warn", "stick gone");
  assert.deepEqual(lines, ["warn stick gone", "warn other", "debug detail", "debug detail"]);
  now += 1;
  log("warn", "stick gone");
  log("warn", "other");
  assert.deepEqual(lines.slice(4), ["warn stick gone (2 more times since it was last reported)", "warn other"]);
});
