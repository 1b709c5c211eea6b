#!/usr/bin/env node
// Update benchmark: how much a realistic base update costs. Two versions of an ext4 image of real
// files, the second with a few percent of its files rewritten by debugfs (a new version of each:
// one 4 KiB block of new bytes in the middle) and some new files; then make-stick build of the
// first, make-stick update to the second, make-stick publish, and a stick of the first version
// updated over HTTP. Reports bytes added to the stick and bytes downloaded against the compressed
// size of the 4 KiB blocks that changed and of the whole image. Writes "## Base updates" of BENCHMARKS.md.
//
//   npm run build && node dist/scripts/bench/update-bench.js [--size 512M] [--fill 0.7] [--changed 0.03] [--work DIR] [--out FILE]
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { copyFile, cp, mkdir, open, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { deflateRawSync, createDeflateRaw } from "node:zlib";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
import { openStick } from "../../src/chunkstore/open-stick.js";
import { remoteUpdate } from "../../src/update/remote-update.js";
import { parseSize } from "../../src/util/parse-size.js";
import { LOOPBACK } from "../../src/nbd/server.js";
import { makeLog, writeSection } from "./bench-util.js";
import { stageRealFiles } from "./real-files.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const MAKE_STICK = join(ROOT, "dist", "scripts", "make-stick.js");
const SECTION = "## Base updates";
const BLOCK = 4096;
const TARGET = 1.5;
const PASSPHRASE = "update bench";
const MiB = 1024 * 1024;
const log = makeLog("update-bench");

function makeStick(args: string[]): string {
  return execFileSync(process.execPath, [MAKE_STICK, ...args], { encoding: "utf8", env: { ...process.env, STICKVM_PASSPHRASE: PASSPHRASE } });
}

async function regularFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await regularFiles(p)));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

/** Bytes of the deflated (level 3, make-stick's default) stream of a file, read once. */
async function deflatedSize(path: string): Promise<number> {
  let n = 0;
  await pipeline(createReadStream(path), createDeflateRaw({ level: 3 }), new Writable({ write: (c: Buffer, _e, done) => { n += c.length; done(); } }));
  return n;
}

/** The 4 KiB blocks that differ between two images of one size: their count, and their bytes deflated as one stream. */
async function changedBlocks(a: string, b: string): Promise<{ blocks: number; deflated: number }> {
  const fa = await open(a, "r");
  const fb = await open(b, "r");
  const size = (await fa.stat()).size;
  const window = 16 * MiB;
  const ba = Buffer.alloc(window);
  const bb = Buffer.alloc(window);
  const changed: Buffer[] = [];
  for (let at = 0; at < size; at += window) {
    const n = Math.min(window, size - at);
    await fa.read(ba, 0, n, at);
    await fb.read(bb, 0, n, at);
    for (let o = 0; o < n; o += BLOCK) if (!ba.subarray(o, o + BLOCK).equals(bb.subarray(o, o + BLOCK))) changed.push(Buffer.from(bb.subarray(o, o + BLOCK)));
  }
  await fa.close();
  await fb.close();
  return { blocks: changed.length, deflated: deflateRawSync(Buffer.concat(changed), { level: 3 }).length };
}

/** A static server of `root` that answers one-range requests, like any web server: what the launcher downloads through, counted. */
async function serveFolder(root: string): Promise<{ url: string; bytesSent: () => number; close: () => Promise<void> }> {
  let sent = 0;
  const server = createServer((req, res) => {
    void (async () => {
      const path = join(root, decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
      let body: Buffer;
      try {
        body = await readFile(path);
      } catch {
        res.writeHead(404).end();
        return;
      }
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
      if (m) {
        const start = Number(m[1]);
        const end = Math.min(Number(m[2]), body.length - 1);
        const part = body.subarray(start, end + 1);
        sent += part.length;
        res.writeHead(206, { "content-range": `bytes ${start}-${end}/${body.length}`, "content-length": part.length }).end(part);
      } else {
        sent += body.length;
        res.writeHead(200, { "content-length": body.length }).end(body);
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return { url: `http://${LOOPBACK}:${address.port}/`, bytesSent: () => sent, close: () => new Promise((r) => server.close(() => { r(); })) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      size: { type: "string", default: "512M" },
      fill: { type: "string", default: "0.7" },
      changed: { type: "string", default: "0.03" },
      work: { type: "string", default: join(tmpdir(), "stickvm-update-bench") },
      out: { type: "string", default: join(ROOT, "BENCHMARKS.md") },
    },
    strict: true,
  });
  const size = parseSize(values.size, "--size");
  const share = Number(values.changed);
  const work = values.work;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const staging = join(work, "files");
  await mkdir(staging);
  const staged = await stageRealFiles(staging, Math.floor(size * Number(values.fill)), Math.floor((size / 16384) * 0.8), log);
  const v1 = join(work, "v1.img");
  execFileSync("mke2fs", ["-q", "-F", "-t", "ext4", "-d", staging, v1, `${size / 1024}k`], { env: { ...process.env, E2FSPROGS_FAKE_TIME: "1700000000" } });
  // version 2: every n-th file rewritten with a new block in its middle, and new files of the same kind
  const files = await regularFiles(staging);
  const commands: string[] = ["mkdir /new"];
  let rewritten = 0;
  let added = 0;
  // files of at least one block, so that each rewrite changes whole blocks
  const candidates = [];
  for (const f of files) if ((await stat(f)).size >= BLOCK) candidates.push(f);
  const every = Math.max(1, Math.round(candidates.length / (files.length * share)));
  for (const [i, f] of candidates.entries()) {
    if (i % every !== 0) continue;
    const bytes = await readFile(f);
    const mid = Math.floor(bytes.length / 2 / BLOCK) * BLOCK;
    const next = Buffer.concat([bytes.subarray(0, mid), randomBytes(BLOCK), bytes.subarray(mid + BLOCK)]);
    const copy = join(work, `v2-${i}`);
    await writeFile(copy, next);
    const inImage = `/${relative(staging, f)}`;
    commands.push(`rm ${inImage}`, `write ${copy} ${inImage}`);
    rewritten++;
    if (rewritten % 3 === 0) {
      commands.push(`write ${copy} /new/file-${i}`);
      added += next.length;
    }
  }
  const v2 = join(work, "v2.img");
  await copyFile(v1, v2);
  await writeFile(join(work, "debugfs.cmd"), `${commands.join("\n")}\n`);
  execFileSync("debugfs", ["-w", "-f", join(work, "debugfs.cmd"), v2], { stdio: ["ignore", "ignore", "ignore"] });
  await rm(staging, { recursive: true, force: true });
  log(`v2: ${rewritten} of ${files.length} files rewritten, ${added} bytes of new files`);

  const changed = await changedBlocks(v1, v2);
  const fullDeflated = await deflatedSize(v2);
  execFileSync(process.execPath, [MAKE_STICK, "keygen", "--out", join(work, "keys")]);
  const key = join(work, "keys", "admin.key");
  const admin = join(work, "admin");
  const user = join(work, "user");
  makeStick(["build", "--image", v1, "--out", admin, "--signing-key", key, "--kdf-memory", "8192", "--kdf-passes", "1", "--recovery-key-file", join(work, "rk")]);
  await cp(admin, user, { recursive: true });
  const staged2 = makeStick(["update", "--stick", admin, "--image", v2, "--signing-key", key]);
  const bytesAdded = Number(/(\d+) bytes added/.exec(staged2)?.[1]);
  makeStick(["publish", "--stick", admin, "--out", join(work, "repo"), "--signing-key", key]);
  const server = await serveFolder(join(work, "repo"));
  let planned = 0;
  const stick = await openStick(user, { passphrase: PASSPHRASE });
  try {
    const r = await remoteUpdate({ stickDir: user, header: stick.header, secrets: stick.secrets, template: undefined, url: new URL(server.url), timeoutMs: 30_000, onStatus: (m) => { planned = Number(/downloading (\d+) bytes/.exec(m)?.[1] ?? planned); log(m); } });
    if (r.kind !== "staged") throw new Error(`the remote update ended ${r.kind}`);
  } finally {
    await stick.close();
    await server.close();
  }
  const downloaded = server.bytesSent();
  const ratio = downloaded / changed.deflated;
  const mib = (n: number): string => `${(n / MiB).toFixed(1)} MiB`;
  const text = `${SECTION}

Made by \`npm run bench:update\` (\`scripts/bench/update-bench.ts\`) on ${new Date().toISOString().slice(0, 10)}: a ${mib(size)} ext4 image of real files
(${files.length} files, ${mib(staged.bytes)}), and version 2 with ${rewritten} of them (${((rewritten / files.length) * 100).toFixed(1)}%) rewritten by debugfs
(\`rm\` + \`write\` of a new version with a new 4 KiB block in its middle) and ${mib(added)} of new files. 64 KiB chunks, zlib level 3.

| measure | bytes | |
|---|---|---|
| 4 KiB blocks that differ between the images | ${changed.blocks * BLOCK} | ${mib(changed.blocks * BLOCK)} |
| those blocks deflated (level 3) | ${changed.deflated} | ${mib(changed.deflated)} |
| the whole version-2 image deflated (level 3) | ${fullDeflated} | ${mib(fullDeflated)} |
| added to the stick by \`make-stick update\` | ${bytesAdded} | ${mib(bytesAdded)} |
| downloaded by the launcher (release, manifest, policy, index, ranges) | ${downloaded} | ${mib(downloaded)}; ranges alone ${mib(planned)} |

Downloaded / deflated changed blocks: **${ratio.toFixed(2)}x** (target at most ${TARGET}x: ${ratio <= TARGET ? "PASS" : "FAIL"}); against the deflated
whole image ${((downloaded / fullDeflated) * 100).toFixed(1)}%. A changed block costs its whole 64 KiB chunk (DESIGN section 8: smaller
chunks make smaller updates and bigger manifests).
`;
  await writeSection(values.out, SECTION, text);
  process.stdout.write(text);
  await rm(work, { recursive: true, force: true });
}

await main();
