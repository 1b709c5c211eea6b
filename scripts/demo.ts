#!/usr/bin/env node
// The README's first command: make the built-in demo stick from real files, then verify and
// describe it. (Once `stickvm run` exists this is where the demo desktop boots.)
import { rm } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { buildStick, BUILD_DEFAULTS } from "../src/admin/build.js";
import { makeDemoImage } from "../src/admin/demo-image.js";
import { formatStickInfo, stickInfo } from "../src/admin/info.js";
import { keygen } from "../src/admin/keygen.js";
import { formatVerifyReport, verifyStick } from "../src/admin/verify.js";
import { EXIT } from "../src/cli/exit-codes.js";
import { progressBar } from "../src/cli/progress.js";
import { runCli } from "../src/cli/run-cli.js";
import { DEFAULT_CHUNK_SIZE } from "../stick-layout/format.js";

const WORK = resolve("demo-work");
const PASSPHRASE = "demo passphrase";

async function main(): Promise<number> {
  await rm(WORK, { recursive: true, force: true });
  const image = join(WORK, "demo-disk.raw");
  const { secretKey } = await keygen(join(WORK, "keys"));
  console.log(`demo image: ${await makeDemoImage(image)}`);
  const bar = progressBar("building", "bytes");
  const built = await buildStick({
    image,
    out: join(WORK, "stick"),
    signingKey: secretKey,
    passphrase: PASSPHRASE,
    chunkSize: DEFAULT_CHUNK_SIZE,
    userSize: 256 * 1024 * 1024,
    localSize: 256 * 1024 * 1024,
    lineage: BUILD_DEFAULTS.lineage,
    kdf: BUILD_DEFAULTS.kdf,
    compressionLevel: BUILD_DEFAULTS.compressionLevel,
    packLimit: BUILD_DEFAULTS.packLimit,
    threads: availableParallelism(),
    recoveryKeyFile: join(WORK, "recovery-key.txt"),
    onProgress: bar.update,
  });
  bar.end();
  console.log(`stick ${built.stickId} built in ${join(WORK, "stick")} (passphrase: "${PASSPHRASE}")\n`);
  const report = await verifyStick(join(WORK, "stick"), { passphrase: PASSPHRASE });
  console.log(`${formatVerifyReport(report)}\n`);
  console.log(formatStickInfo(await stickInfo(join(WORK, "stick"))));
  return report.ok ? EXIT.ok : EXIT.damagedStick;
}

await runCli(main);
