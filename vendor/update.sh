#!/usr/bin/env bash
# Rebuild vendor/kafka-protocol from the crates.io release plus vendor/kafka-protocol.patch,
# or, with --check, verify that the committed tree is exactly that (run by .ci/run).
# Why the patch exists: see vendor/README.md.
set -euo pipefail
cd "$(dirname "$0")"
VERSION=0.15.1
SHA256=6509e79955e012e08bce83c5f8ef2a40c69ed1c807ec7c4f7670f70a5feb1e5b
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -sSfL -o "$work/kp.crate" "https://static.crates.io/crates/kafka-protocol/kafka-protocol-$VERSION.crate"
echo "$SHA256  $work/kp.crate" | sha256sum -c --quiet
tar xzf "$work/kp.crate" -C "$work"
src="$work/kafka-protocol-$VERSION"
mkdir -p "$work/out"
# Only what the build needs: the manifest, the sources, and the licence and provenance files.
cp -r "$src/Cargo.toml" "$src/src" "$src/README.md" "$src/CHANGELOG.md" "$src/AUTHORS" \
    "$src/LICENSE-APACHE" "$src/LICENSE-MIT" "$work/out/"
(cd "$work/out" && patch -s -p1 < "$OLDPWD/kafka-protocol.patch")
if [ "${1:-}" = "--check" ]; then
    if diff -r "$work/out" kafka-protocol >/dev/null; then
        echo "vendor/kafka-protocol = kafka-protocol $VERSION + kafka-protocol.patch"
    else
        diff -r "$work/out" kafka-protocol | head -40
        echo "vendor/kafka-protocol differs from kafka-protocol $VERSION + kafka-protocol.patch" >&2
        exit 1
    fi
else
    rm -rf kafka-protocol
    cp -r "$work/out" kafka-protocol
    echo "vendor/kafka-protocol rebuilt from kafka-protocol $VERSION + kafka-protocol.patch"
fi
