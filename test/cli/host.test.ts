import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { EXIT } from "../../src/cli/exit-codes.js";
import type { HostReport } from "../../src/host/detect-host.js";
import { STICKVM } from "../helpers/serve.js";
import { REPO_ROOT } from "../helpers/sticks.js";

const FIXTURE_STICK = join(REPO_ROOT, "test", "fixtures", "stick-v1", "stick");

function stickvm(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [STICKVM, ...args], { encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("stickvm host --json prints the report and exits 0; the human form says what it will do", () => {
  const json = stickvm(["host", "--stick", FIXTURE_STICK, "--json"]);
  assert.equal(json.status, EXIT.ok, json.stderr);
  const host = JSON.parse(json.stdout) as HostReport;
  assert.equal(host.system.arch, process.arch);
  assert.deepEqual(host.accelerators.at(-1), "tcg");
  assert.match(host.hostId.id ?? "", /^[0-9a-f]{32}$/);
  assert.deepEqual(Object.keys(host).sort(), ["accelerator", "accelerators", "cache", "display", "hostId", "stick", "system"]);

  const human = stickvm(["host", "--stick", FIXTURE_STICK]);
  assert.equal(human.status, EXIT.ok, human.stderr);
  assert.match(human.stdout, /^accelerator {2}\S/m);
  assert.match(human.stdout, new RegExp(`^host id      ${host.hostId.id ?? "-"} `, "m"), "the same id in both forms");
});

test("stickvm host --stick on a folder that is not a stick exits with usage or damage codes", () => {
  const absent = stickvm(["host", "--stick", join(REPO_ROOT, "no-such-folder"), "--json"]);
  assert.equal(absent.status, EXIT.usage);
  assert.match(absent.stderr, /no stick at/);
  const notStick = stickvm(["host", "--stick", join(REPO_ROOT, "docs")]);
  assert.equal(notStick.status, EXIT.damagedStick);
  assert.match(notStick.stderr, /stick\.hdr is missing/);
});
