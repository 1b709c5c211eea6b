#!/bin/sh
# Starts stickvm from this stick on Linux: sh run.sh [command] [options]
# (the command is "run" when none is given; --stick is always this folder).
# Sticks are often mounted noexec or showexec, so the launcher is copied to a
# RAM-backed folder, run from there, and removed when it ends.
set -u

stick=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P) || exit 1

case $(uname -m) in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *)
    echo "stickvm: this computer's processor ($(uname -m)) is not one this stick supports" >&2
    exit 1
    ;;
esac
exe="$stick/stickvm-linux-$arch"
if [ ! -f "$exe" ]; then
  echo "stickvm: $exe is missing: this stick has no launcher for Linux on $arch" >&2
  exit 1
fi

dir=''
cleanup() {
  if [ -n "$dir" ]; then rm -rf -- "$dir"; fi
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM HUP

# The first RAM-backed folder where a copy of the launcher can run (some are noexec too).
for base in "${XDG_RUNTIME_DIR:-}" /dev/shm /run/shm /tmp; do
  if [ -z "$base" ] || [ ! -d "$base" ] || [ ! -w "$base" ]; then continue; fi
  dir=$(mktemp -d "$base/stickvm-run.XXXXXX" 2>/dev/null) || { dir=''; continue; }
  if cp -- "$exe" "$dir/stickvm" && chmod 700 "$dir/stickvm" && "$dir/stickvm" --version >/dev/null 2>&1; then
    break
  fi
  rm -rf -- "$dir"
  dir=''
done
if [ -z "$dir" ]; then
  echo "stickvm: found no folder on this computer where the launcher may run (tried \$XDG_RUNTIME_DIR, /dev/shm, /run/shm, /tmp)" >&2
  exit 1
fi

if [ $# -eq 0 ]; then set -- run; fi
# the launcher journals this copy on the stick, so that a crash does not leave it behind either
STICKVM_LAUNCHER_COPY="$dir" "$dir/stickvm" "$@" --stick "$stick"
status=$?
cleanup
dir=''
exit "$status"
