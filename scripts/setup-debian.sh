#!/usr/bin/env bash
# Sets up a Debian/Ubuntu machine for stickvm: the Debian packages the tools and tests use,
# then the npm dependencies. Safe to run again; apt runs only when a package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# qemu-utils: qemu-img, to read qcow2/vmdk/vhdx/vdi images and for the interop tests.
# tar: .ova archives in tests. e2fsprogs (mke2fs) and time (/usr/bin/time): npm run bench.
# The NBD server's real clients and baselines: qemu-system-x86 (QEMU), libnbd-bin (nbdinfo,
# nbdcopy), nbdkit, fio (its nbd engine).
# busybox-static, xz-utils: the tiny Linux test guest (test/helpers/guest.ts).
# osslsigncode: strips node.exe's Authenticode signature before the SEA blob goes in (npm run build:exe).
# nginx-light: serves a published update repository on 127.0.0.1 in the remote update tests.
PACKAGES=(qemu-utils tar e2fsprogs time qemu-system-x86 libnbd-bin nbdkit fio busybox-static xz-utils osslsigncode nginx-light)

need_node="20.19.0"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "setup: Node.js >= $need_node with npm is needed (Debian's own nodejs is older; use NodeSource or nvm)" >&2
  exit 1
fi
have_node="$(node -p 'process.versions.node')"
if [ "$(printf '%s\n%s\n' "$need_node" "$have_node" | sort -V | head -1)" != "$need_node" ]; then
  echo "setup: Node.js $have_node is too old; stickvm needs >= $need_node" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

npm ci --no-audit --no-fund
