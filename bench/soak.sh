#!/usr/bin/env bash
# Soak: N rounds (default 1000) of kill -9 of the agent at random moments of writing and
# rotation (rename + copytruncate), with broker kill -9 + restarts, against the bundled broker
# run as `logferry broker`. Prints lost / duplicated / reordered per round and in total; exits
# non-zero if a line was lost or reordered.
#   bench/soak.sh [ROUNDS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-1000}"
seed="${2:-$RANDOM}"
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --quiet --bin logferry --example soak
echo "soak: $rounds rounds, seed $seed"
exec "$target/release/examples/soak" --bin "$target/release/logferry" --rounds "$rounds" --seed "$seed"
