// `stickvm run` stops before anything starts, with a clear message and its exit code, when the
// passphrase is wrong, the stick is in use, its manifest is bad, or there is no player.
import assert from "node:assert/strict";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { EXIT } from "../../src/cli/exit-codes.js";
import { startRun } from "../helpers/run.js";
import { serve } from "../helpers/serve.js";
import { adminKey, fastBuild, tempDir, writeImage } from "../helpers/sticks.js";

const MiB = 1024 * 1024;

test("run refuses, before any player starts, a wrong passphrase, a stick in use, a bad manifest and a stick without a player", async (t) => {
  const dir = await tempDir(t);
  const { path: image } = await writeImage(dir, [{ random: MiB }]);
  const key = await adminKey(dir);
  const stick = join(dir, "stick");
  await fastBuild({ image, out: stick, signingKey: key });
  // a PATH without QEMU, so that nothing past the refusal could start one; a RAM folder of this
  // test's own (the first place a run folder goes), so that other tests' sessions do not show
  const runtime = join(dir, "runtime");
  await mkdir(runtime);
  const env = { PATH: "/nonexistent", XDG_RUNTIME_DIR: runtime };

  await t.test("wrong passphrase: exit 4", async () => {
    const r = startRun(["--stick", stick, "--headless"], { env: { ...env, STICKVM_PASSPHRASE: "not it" } });
    assert.equal(await r.exited, EXIT.wrongPassphrase, r.stderr());
    assert.match(r.stderr(), /error: .*passphrase/i);
    assert.doesNotMatch(r.stderr(), /starting the guest/);
  });

  await t.test("no player: exit 7, naming what is missing", async () => {
    const r = startRun(["--stick", stick, "--headless"], { env });
    assert.equal(await r.exited, EXIT.missingTool, r.stderr());
    assert.match(r.stderr(), /no player for linux-x64.*no qemu-system-x86_64 on this host's PATH/);
  });

  await t.test("a stick in use: refused while `serve` holds it", async () => {
    const s = await serve(["--stick", stick, "--socket", join(dir, "nbd.sock")]);
    try {
      const r = startRun(["--stick", stick, "--headless"], { env });
      assert.equal(await r.exited, EXIT.usage, r.stderr());
      assert.match(r.stderr(), /the stick is in use by process \d+/);
    } finally {
      assert.equal(await s.stop(), 0);
    }
  });

  await t.test("a bad manifest: exit 5", async () => {
    const manifest = join(stick, "base", "manifest-00000001.bin");
    const bytes = await readFile(manifest);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
    await writeFile(manifest, bytes);
    const r = startRun(["--stick", stick, "--headless"], { env });
    assert.equal(await r.exited, EXIT.damagedStick, r.stderr());
    assert.match(r.stderr(), /manifest-00000001\.bin/);
  });

  assert.deepEqual(await readdir(runtime), [], "no run folder is left behind");
});
