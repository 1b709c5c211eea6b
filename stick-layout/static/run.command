#!/bin/sh
# Starts stickvm from this stick on macOS (double-click in Finder, or sh run.command).
# The launcher runs from a private temporary folder, so that a stick mounted
# without execute rights still works, and is removed when it ends.
set -u
stick=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P) || exit 1
case $(uname -m) in
  arm64) arch=arm64 ;;
  x86_64) arch=x64 ;;
  *) echo "stickvm: this Mac's processor ($(uname -m)) is not one this stick supports" >&2; exit 1 ;;
esac
exe="$stick/stickvm-darwin-$arch"
if [ ! -f "$exe" ]; then
  echo "stickvm: $exe is missing: this stick has no launcher for macOS on $arch" >&2
  exit 1
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/stickvm-run.XXXXXX") || exit 1
trap 'rm -rf -- "$dir"' EXIT
trap 'rm -rf -- "$dir"; exit 130' INT
trap 'rm -rf -- "$dir"; exit 143' TERM HUP
cp -- "$exe" "$dir/stickvm" && chmod 700 "$dir/stickvm" || exit 1
# a copy from a stick carries the quarantine flag; the launcher is signed ad hoc, not notarized
xattr -d com.apple.quarantine "$dir/stickvm" 2>/dev/null
if [ $# -eq 0 ]; then set -- run; fi
"$dir/stickvm" "$@" --stick "$stick"
exit $?
