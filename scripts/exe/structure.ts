// Minimal readers of the executable formats, enough to find the SEA blob that postject
// injected: the Windows and macOS executables cannot be run here, so the build and the
// tests check their structure instead.

/** postject's sentinel: Node looks for the blob only when the byte after the colon is "1". */
export const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";
export const SEA_RESOURCE = "NODE_SEA_BLOB";
/** The Mach-O segment Node reads the blob from (its section is `__NODE_SEA_BLOB`). */
export const SEA_MACHO_SEGMENT = "NODE_SEA";

export type ExeFormat = "elf" | "pe" | "macho";

export interface SeaLayout {
  format: ExeFormat;
  /** The CPU the header names: "x64" or "arm64". */
  arch: string;
  /** The injected blob's bytes, or undefined when the executable holds none. */
  blob: Buffer | undefined;
  fuseFlipped: boolean;
  /** An Authenticode or Mach-O code signature is present (an injected file's would be invalid). */
  codeSignature: boolean;
}

function need(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

function fuseFlipped(file: Buffer): boolean {
  const at = file.indexOf(`${SEA_FUSE}:`);
  need(at >= 0, "no SEA fuse: not a Node binary");
  return file[at + SEA_FUSE.length + 1] === "1".charCodeAt(0);
}

/** Reads an executable's header and finds its SEA blob; throws on a header that is not valid. */
export function seaLayout(file: Buffer): SeaLayout {
  if (file.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) return elf(file);
  if (file.readUInt16LE(0) === 0x5a4d) return pe(file);
  if (file.readUInt32LE(0) === 0xfeedfacf) return macho(file);
  throw new Error("not an ELF, PE or 64-bit Mach-O file");
}

function elf(file: Buffer): SeaLayout {
  need(file[4] === 2 && file[5] === 1, "ELF: not 64-bit little-endian");
  const machine = file.readUInt16LE(18);
  // postject adds the blob as a note; Node finds it by name, and so does this
  const name = Buffer.from(`${SEA_RESOURCE}\0`);
  const at = file.lastIndexOf(name);
  let blob: Buffer | undefined;
  if (at >= 12) {
    const nameSize = file.readUInt32LE(at - 12);
    const descSize = file.readUInt32LE(at - 8);
    const desc = at + Math.ceil(nameSize / 4) * 4;
    if (nameSize === name.length && desc + descSize <= file.length) blob = file.subarray(desc, desc + descSize);
  }
  return { format: "elf", arch: machine === 0x3e ? "x64" : machine === 0xb7 ? "arm64" : `machine ${machine}`, blob, fuseFlipped: fuseFlipped(file), codeSignature: false };
}

function pe(file: Buffer): SeaLayout {
  const peAt = file.readUInt32LE(0x3c);
  need(peAt + 24 <= file.length && file.readUInt32LE(peAt) === 0x00004550, "PE: no PE signature");
  const machine = file.readUInt16LE(peAt + 4);
  const sections = file.readUInt16LE(peAt + 6);
  const optSize = file.readUInt16LE(peAt + 20);
  const opt = peAt + 24;
  need(file.readUInt16LE(opt) === 0x20b, "PE: not PE32+");
  need(file.readUInt32LE(opt + 108) > 4, "PE: data directory too short");
  const resourceRva = file.readUInt32LE(opt + 112 + 2 * 8);
  const table = opt + optSize;
  need(table + sections * 40 <= file.length, "PE: section table past the end");
  const toOffset = (rva: number): number => {
    for (let i = 0; i < sections; i++) {
      const s = table + i * 40;
      const va = file.readUInt32LE(s + 12);
      const rawSize = file.readUInt32LE(s + 16);
      if (rva >= va && rva < va + rawSize) return file.readUInt32LE(s + 20) + rva - va;
    }
    throw new Error(`PE: RVA ${rva} is in no section`);
  };
  let blob: Buffer | undefined;
  if (resourceRva !== 0) {
    const root = toOffset(resourceRva);
    // resource tree: type RT_RCDATA (10) → name NODE_SEA_BLOB → first language → data entry
    const names = entry(file, root, root, (id) => id === 10);
    const langs = names === undefined ? undefined : entry(file, root, names, (_id, name) => name === SEA_RESOURCE);
    const data = langs === undefined ? undefined : entry(file, root, langs, () => true);
    if (data !== undefined) {
      const at = toOffset(file.readUInt32LE(data));
      blob = file.subarray(at, at + file.readUInt32LE(data + 4));
    }
  }
  // data directory 4 (security) locates the Authenticode signature
  const codeSignature = file.readUInt32LE(opt + 112 + 4 * 8 + 4) !== 0;
  return { format: "pe", arch: machine === 0x8664 ? "x64" : machine === 0xaa64 ? "arm64" : `machine ${machine}`, blob, fuseFlipped: fuseFlipped(file), codeSignature };
}

/** The first entry of a resource directory that `match` accepts: its target's file offset. */
function entry(file: Buffer, root: number, dir: number, match: (id: number | undefined, name: string | undefined) => boolean): number | undefined {
  const count = file.readUInt16LE(dir + 12) + file.readUInt16LE(dir + 14);
  for (let i = 0; i < count; i++) {
    const e = dir + 16 + i * 8;
    const key = file.readUInt32LE(e);
    let name: string | undefined;
    if (key & 0x80000000) {
      const at = root + (key & 0x7fffffff);
      name = file.toString("utf16le", at + 2, at + 2 + 2 * file.readUInt16LE(at));
    }
    if (!match(name === undefined ? key : undefined, name)) continue;
    return root + (file.readUInt32LE(e + 4) & 0x7fffffff);
  }
  return undefined;
}

function cString(file: Buffer, at: number, length: number): string {
  const raw = file.subarray(at, at + length);
  const end = raw.indexOf(0);
  return raw.toString("latin1", 0, end < 0 ? length : end);
}

function macho(file: Buffer): SeaLayout {
  const cpu = file.readUInt32LE(4);
  const commands = file.readUInt32LE(16);
  let at = 32;
  let blob: Buffer | undefined;
  let codeSignature = false;
  for (let i = 0; i < commands; i++) {
    need(at + 8 <= file.length, "Mach-O: load commands past the end");
    const cmd = file.readUInt32LE(at);
    const size = file.readUInt32LE(at + 4);
    need(size >= 8, "Mach-O: empty load command");
    if (cmd === 0x1d) codeSignature = true; // LC_CODE_SIGNATURE
    if (cmd === 0x19 && cString(file, at + 8, 16) === SEA_MACHO_SEGMENT) {
      // LC_SEGMENT_64: its sections follow the 72-byte command
      for (let s = 0; s < file.readUInt32LE(at + 64); s++) {
        const sect = at + 72 + s * 80;
        if (cString(file, sect, 16) !== `__${SEA_RESOURCE}`) continue;
        const offset = file.readUInt32LE(sect + 48);
        blob = file.subarray(offset, offset + Number(file.readBigUInt64LE(sect + 40)));
      }
    }
    at += size;
  }
  return { format: "macho", arch: cpu === 0x01000007 ? "x64" : cpu === 0x0100000c ? "arm64" : `cpu ${cpu}`, blob, fuseFlipped: fuseFlipped(file), codeSignature };
}
