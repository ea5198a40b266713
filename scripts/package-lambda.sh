#!/usr/bin/env bash
# Builds the API Lambda (`bedrock-lb-lambda`) in release and zips it as `bootstrap`, the file name
# the `provided.al2023` custom runtime runs. Prints the zip's path on stdout (logs go to stderr).
#
#   scripts/package-lambda.sh [--arch arm64|x86_64] [--out DIR]
#
# arm64 (the template's default) is built one of three ways, first that works:
#   1. cargo-lambda (`cargo lambda build --release --arm64`), which cross-links with zig against
#      an old glibc, so the binary runs on Amazon Linux 2023 whatever this machine's glibc is;
#   2. rustup's aarch64-unknown-linux-gnu target with an aarch64 linker
#      (`rustup target add aarch64-unknown-linux-gnu`, `apt-get install gcc-aarch64-linux-gnu`),
#      on a build host whose glibc is not newer than AL2023's 2.34 (or natively on Graviton);
#   3. otherwise it stops and says which of the two to install.
# x86_64 on an x86_64 host is a plain `cargo build --release` (deploy with `--arch x86_64`, which
# sets the template's Architecture parameter to match).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

arch=arm64
out=target/lambda
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch=${2:?--arch needs arm64 or x86_64}; shift 2 ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

case "$arch" in
  arm64) triple=aarch64-unknown-linux-gnu; cargo_lambda_flag=--arm64 ;;
  x86_64) triple=x86_64-unknown-linux-gnu; cargo_lambda_flag=--x86-64 ;;
  *) die "--arch must be arm64 or x86_64, not $arch" ;;
esac

host=$(rustc -vV | sed -n 's/^host: //p')
bin=bedrock-lb-lambda

if cargo lambda --version >/dev/null 2>&1; then
  log "cargo lambda build ($arch)"
  cargo lambda build --release "$cargo_lambda_flag" --bin "$bin" -p bedrock-lb >&2
  built=target/lambda/$bin/bootstrap
  [ -f "$built" ] || built=target/$triple/release/$bin
elif [ "$triple" = "$host" ]; then
  log "cargo build --release ($arch, native)"
  cargo build --release --locked -p bedrock-lb --bin "$bin" >&2
  built=target/release/$bin
elif rustup target list --installed 2>/dev/null | grep -qx "$triple"; then
  linker=aarch64-linux-gnu-gcc
  command -v "$linker" >/dev/null || die "target $triple is installed but $linker is not (apt-get install gcc-aarch64-linux-gnu)"
  log "cargo build --release --target $triple"
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=$linker \
    cargo build --release --locked -p bedrock-lb --bin "$bin" --target "$triple" >&2
  built=target/$triple/release/$bin
else
  die "cannot build for $arch on $host: install cargo-lambda (pip install ziglang; cargo install cargo-lambda) or rustup target add $triple with an aarch64 linker, or pass --arch x86_64"
fi

[ -f "$built" ] || die "the build did not produce $built"
mkdir -p "$out"
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
cp "$built" "$staging/bootstrap"
chmod 755 "$staging/bootstrap"
zip_path="$out/bedrock-lb-lambda-$arch.zip"
rm -f "$zip_path"
(cd "$staging" && zip -q -9 -X bootstrap.zip bootstrap)
mv "$staging/bootstrap.zip" "$zip_path"
log "$zip_path: $(wc -c <"$zip_path") bytes (bootstrap $(wc -c <"$built") bytes)"
echo "$zip_path"
