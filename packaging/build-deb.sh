#!/usr/bin/env bash
# Build the logferry .deb: man pages and shell completions generated from the clap
# definitions, then cargo-deb with the metadata in Cargo.toml ([package.metadata.deb]).
# Prints the path of the .deb as its last line. Honours CARGO_TARGET_DIR.
#
#   packaging/build-deb.sh            # → target/debian/logferry_VERSION-1_ARCH.deb
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo deb --version >/dev/null 2>&1; then
    echo "== installing cargo-deb" >&2
    cargo install cargo-deb --locked >&2
fi

# Generated assets go to ./target/assets (the paths Cargo.toml's assets name), whatever
# CARGO_TARGET_DIR is.
assets=target/assets
rm -rf "$assets"
echo "== man pages and completions → $assets" >&2
cargo run --release --quiet --example logferry-gen -- "$assets" >&2
# Debian ships man pages gzip-compressed; -n keeps the archive reproducible.
gzip -9nf "$assets"/man/*.1

out_dir=target/debian
mkdir -p "$out_dir"
echo "== cargo deb" >&2
# cargo-deb builds the release binary (a no-op when it is up to date) and strips it.
deb=$(cargo deb --output "$out_dir" | tail -n 1)
echo "$deb"
