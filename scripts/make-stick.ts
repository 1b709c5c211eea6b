#!/usr/bin/env node
// The admin CLI: commander wiring only; the work is done by the functions in src/admin/.
import { availableParallelism } from "node:os";
import { Command, Option } from "commander";
import { bootOptionsFrom } from "../src/admin/boot-input.js";
import { buildStick, BUILD_DEFAULTS } from "../src/admin/build.js";
import { DISK_FORMATS, type DiskFormat } from "../src/admin/image-format.js";
import { formatStickInfo, stickInfo } from "../src/admin/info.js";
import { keygen } from "../src/admin/keygen.js";
import { formatVerifyReport, verifyStick } from "../src/admin/verify.js";
import { EXIT } from "../src/cli/exit-codes.js";
import { getPassphrase } from "../src/cli/passphrase.js";
import { parseSize } from "../src/util/parse-size.js";
import { parsePlayerSpec } from "../src/player/bundle.js";
import { progressBar } from "../src/cli/progress.js";
import { readUnlock } from "../src/cli/unlock-options.js";
import { runCli } from "../src/cli/run-cli.js";
import { abortOnStopSignals, onStopSignals } from "../src/cli/stop-signals.js";
import { DEFAULT_PROFILE_SECONDS, recordBootProfile } from "../src/admin/profile.js";
import { DEFAULT_CHUNK_SIZE } from "../stick-layout/format.js";

function intOption(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n)) throw new Error(`"${text}" is not a whole number`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = new Command("make-stick")
    .description("Build and check stickvm sticks (admin tool)")
    .exitOverride()
    .showHelpAfterError();

  program
    .command("keygen")
    .description("create an admin signing key pair (admin.key, readable by its owner only, and admin.pub)")
    .requiredOption("--out <dir>", "folder for the key files")
    .action(async (o: { out: string }) => {
      const r = await keygen(o.out);
      console.log(`secret key: ${r.secretKey} (keep it safe: it signs every stick and update)`);
      console.log(`public key: ${r.publicKey} (${r.publicKeyBase64})`);
    });

  program
    .command("build")
    .description("turn a VM disk image into a new stick folder")
    .requiredOption("--image <file>", "disk image: raw, qcow2, vmdk, vhdx or vdi, or a .7z/.zip/.ova holding one")
    .addOption(new Option("--format <format>", "image format (default: detected)").choices(DISK_FORMATS))
    .requiredOption("--out <stick>", "new or empty folder for the stick")
    .requiredOption("--signing-key <key>", "admin secret key file from keygen")
    .option("--passphrase-file <file>", "read the passphrase from this file (else $STICKVM_PASSPHRASE, else ask twice)")
    .option("--recovery-key-file <file>", "write the recovery key to this new file instead of printing it")
    .option("--chunk-size <size>", "chunk size, a power of two from 4K to 4M", "64K")
    .option("--user-size <size>", "size of the user disk (default: 4G, or the user image's size)")
    .option("--user-image <file>", "template for the user disk (for example a pre-formatted profile disk), in any format --image takes")
    .addOption(new Option("--user-image-format <format>", "user image format (default: detected)").choices(DISK_FORMATS))
    .option("--local-size <size>", "size of the local scratch disk", "2G")
    .option("--policy <file>", "policy.json to carry on the stick")
    .option("--boot-kernel <file>", "boot this kernel directly (with --boot-initrd) instead of from the system disk")
    .option("--boot-initrd <file>", "the initrd for --boot-kernel")
    .option("--boot-append <line>", "the kernel command line for --boot-kernel (default: empty)")
    .option("--player <target=source>", "put a player on the stick; so far only linux-x64=host (this machine's QEMU with its libraries, loader, modules and firmware)", (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option("--launchers <dir>", "copy the launcher executables in this folder (npm run build:exe writes them to dist/exe) to the stick")
    .option("--lineage <name>", "image lineage: sticks of one lineage share base keys and updates", BUILD_DEFAULTS.lineage)
    .option("--compression-level <n>", "zlib level 1 (fastest) to 9 (smallest)", intOption, BUILD_DEFAULTS.compressionLevel)
    .option("--threads <n>", "worker threads", intOption, Math.max(1, Math.min(availableParallelism(), 8)))
    .option("--pack-size <size>", "largest pack file", "512M")
    .option("--kdf-memory <KiB>", "argon2id memory in KiB", intOption, BUILD_DEFAULTS.kdf.memoryKiB)
    .option("--kdf-passes <n>", "argon2id passes", intOption, BUILD_DEFAULTS.kdf.passes)
    .action(async (o: Record<string, string | number | string[] | undefined>) => {
      const boot = bootOptionsFrom({ kernel: o.bootKernel as string | undefined, initrd: o.bootInitrd as string | undefined, append: o.bootAppend as string | undefined });
      const passphrase = await getPassphrase({ passphraseFile: o.passphraseFile as string | undefined, confirm: true });
      const stop = abortOnStopSignals("\ninterrupted: stopping the build");
      const bar = progressBar("building", "bytes");
      try {
        const r = await buildStick({
          image: o.image as string,
          ...(o.format !== undefined ? { format: o.format as DiskFormat } : {}),
          out: o.out as string,
          signingKey: o.signingKey as string,
          passphrase,
          chunkSize: parseSize(String(o.chunkSize ?? DEFAULT_CHUNK_SIZE), "chunk size"),
          ...(o.userSize !== undefined ? { userSize: parseSize(String(o.userSize), "user size") } : {}),
          ...(o.userImage !== undefined ? { userImage: o.userImage as string } : {}),
          ...(o.userImageFormat !== undefined ? { userImageFormat: o.userImageFormat as DiskFormat } : {}),
          localSize: parseSize(String(o.localSize), "local size"),
          ...(o.policy !== undefined ? { policy: o.policy as string } : {}),
          ...(boot !== undefined ? { boot } : {}),
          ...(o.player !== undefined ? { players: (o.player as string[]).map(parsePlayerSpec) } : {}),
          ...(o.launchers !== undefined ? { launchers: o.launchers as string } : {}),
          lineage: o.lineage as string,
          kdf: { memoryKiB: o.kdfMemory as number, passes: o.kdfPasses as number, parallelism: 1 },
          compressionLevel: o.compressionLevel as number,
          packLimit: parseSize(String(o.packSize), "pack size"),
          threads: o.threads as number,
          ...(o.recoveryKeyFile !== undefined ? { recoveryKeyFile: o.recoveryKeyFile as string } : {}),
          onProgress: bar.update,
          signal: stop.signal,
        });
        bar.end();
        const c = r.chunks;
        console.log(`stick ${r.stickId} written to ${o.out as string}`);
        console.log(
          `image ${r.imageBytes} bytes: ${c.total} chunks (${c.zero} zero, ${c.duplicate} duplicate, ${c.unique} stored), ${r.storedBytes} bytes in ${r.packs} pack(s)`,
        );
        if (r.userTemplate !== undefined) {
          const u = r.userTemplate.chunks;
          console.log(`user template ${r.userTemplate.imageBytes} bytes: ${u.total} chunks (${u.zero} zero, ${u.duplicate} duplicate, ${u.unique} stored)`);
        }
        if (r.boot !== undefined) {
          for (const file of ["kernel", "initrd"] as const) {
            const { bytes, chunks: k } = r.boot[file];
            console.log(`boot ${file} ${bytes} bytes: ${k.total} chunks (${k.zero} zero, ${k.duplicate} duplicate, ${k.unique} stored)`);
          }
          console.log(`boot command line ${JSON.stringify(r.boot.append)}`);
        }
        for (const p of r.players) console.log(`player ${p.target}: ${p.files} files, ${p.bytes} bytes`);
        if (r.launchers.length > 0) console.log(`launchers: ${r.launchers.join(", ")}`);
        console.log(`user disk ${r.userDiskSize} bytes, starting as ${r.userTemplate === undefined ? "zeros" : "the user template"}`);
        if (o.recoveryKeyFile !== undefined) console.log(`recovery key written to ${o.recoveryKeyFile as string}`);
        else console.log(`recovery key (shown once; store it apart from the stick):\n  ${r.recoveryKey}`);
      } finally {
        bar.end();
        stop.dispose();
      }
    });

  program
    .command("verify")
    .description("check the header MAC, the manifest signature and every chunk")
    .requiredOption("--stick <stick>", "stick folder")
    .option("--json", "print the report as JSON")
    .option("--passphrase-file <file>", "read the passphrase from this file (else $STICKVM_PASSPHRASE, else ask)")
    .option("--recovery-key-file <file>", "unlock with the recovery key in this file instead")
    .action(async (o: { stick: string; json?: boolean; passphraseFile?: string; recoveryKeyFile?: string }) => {
      const how = await readUnlock(o);
      const bar = progressBar("verifying", "items");
      const report = await verifyStick(o.stick, how, bar.update);
      bar.end();
      console.log(o.json === true ? JSON.stringify(report, null, 2) : formatVerifyReport(report));
      if (!report.ok) exitCode = EXIT.damagedStick;
    });

  program
    .command("profile")
    .description("boot the stick once, headless, and store the order its boot reads chunks in, so its first start anywhere prefetches them")
    .requiredOption("--stick <stick>", "stick folder")
    .option("--until-line <text>", "stop when the guest's console prints this text (the end of its boot)")
    .option("--seconds <n>", "stop after this many seconds in any case", Number, DEFAULT_PROFILE_SECONDS)
    .option("--powerdown-timeout <seconds>", "how long the guest has to power off at the end", Number, 60)
    .option("--show-console", "show the guest's console on stderr")
    .option("--cache-dir <dir>", "host cache folder for this boot (default: the policy's, else this OS's cache folder)")
    .option("--passphrase-file <file>", "read the passphrase from this file (else $STICKVM_PASSPHRASE, else ask)")
    .option("--recovery-key-file <file>", "unlock with the recovery key in this file instead")
    .action(async (o: { stick: string; untilLine?: string; seconds: number; powerdownTimeout: number; showConsole?: boolean; cacheDir?: string; passphraseFile?: string; recoveryKeyFile?: string }) => {
      const r = await recordBootProfile({
        stick: o.stick,
        unlock: await readUnlock(o),
        ...(o.untilLine === undefined ? {} : { untilLine: o.untilLine }),
        seconds: o.seconds,
        powerdownTimeoutMs: o.powerdownTimeout * 1000,
        ...(o.cacheDir === undefined ? {} : { cacheDir: o.cacheDir }),
        ...(o.showConsole === true ? { guestOutput: process.stderr } : {}),
        stopRequests: onStopSignals,
        onStatus: (message) => process.stderr.write(`make-stick: ${message}\n`),
        onWarning: (message) => process.stderr.write(`warning: ${message}\n`),
      });
      const why = { line: "the guest printed the line", time: "the time was up", guest: "the guest powered off", stop: "stopped" }[r.endedBy];
      console.log(`boot profile saved on the stick: ${r.chunks} chunks (recording ended: ${why})`);
    });

  program
    .command("info")
    .description("describe a stick: versions, sizes, chunk counts, ratios, key slots")
    .requiredOption("--stick <stick>", "stick folder")
    .option("--json", "print as JSON")
    .action(async (o: { stick: string; json?: boolean }) => {
      const info = await stickInfo(o.stick);
      console.log(o.json === true ? JSON.stringify(info, null, 2) : formatStickInfo(info));
    });

  await program.parseAsync(argv);
  return exitCode;
}

await runCli(() => main(process.argv));
