#!/usr/bin/env bash
# What .ci/run runs beyond `cargo test --release` (which already runs tests/model.rs,
# tests/broker_faults.rs and tests/limits.rs in their short forms): the soak in its short form
# and each fuzz target for a fixed time. Long forms:
#   bench/soak.sh 1000                       # soak rounds
#   FUZZ_SECONDS=300 FUZZ_FLAGS= tests/torture/ci.sh   # longer fuzzing, with AddressSanitizer
#   LOGFERRY_MODEL_CASES=200 cargo test --release --test agent model::
#   LOGFERRY_BIG_FILE_GIB=10 cargo test --release --test agent limits::
set -euo pipefail
cd "$(dirname "$0")/../.."
SOAK_ROUNDS="${SOAK_ROUNDS:-50}"
FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
TARGETS=(broker_request broker_handshake framer config checkpoint)
# The fuzz crate builds with sanitizer flags: keep its artifacts apart from the main build.
FUZZ_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/fuzz/target}"
# The short form builds fast: cargo fuzz's default (release, one codegen unit per crate,
# AddressSanitizer) took ~10 min of CI to build kafka-protocol, tokio, rustls and librdkafka's
# bindings; an unoptimised build without a sanitizer takes about half, and 15 s of fuzzing is a
# smoke run either way. The fuzzed code is safe Rust, where a bug shows as a panic that
# libFuzzer reports without a sanitizer. Long runs: FUZZ_FLAGS="" (cargo fuzz's defaults).
read -r -a FUZZ_FLAGS <<<"${FUZZ_FLAGS---dev --sanitizer none}"
passed=0
failed=0

step() {
  local name="$1"
  shift
  echo "== $name"
  local t0=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    echo "-- ok: $name ($((SECONDS - t0)) s)"
  else
    failed=$((failed + 1))
    echo "-- FAILED: $name ($((SECONDS - t0)) s)"
  fi
}

soak() {
  local rc=0 log
  log="$(mktemp)"
  bench/soak.sh "$SOAK_ROUNDS" 20261121 >"$log" 2>&1 || rc=$?
  # Per-round lines are in the log; show the worst rounds and the total.
  grep -E "^round .* (lost [1-9]|reordered [1-9])" "$log" | head -n 5 || true
  tail -n 3 "$log"
  return "$rc"
}

fuzz_build() {
  command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
  # cargo fuzz needs nightly-only flags (-Zsanitizer); the stable toolchain accepts them so.
  (cd fuzz && RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$FUZZ_TARGET_DIR" cargo fuzz build "${FUZZ_FLAGS[@]}")
}

fuzz_run() {
  local t="$1" rc=0
  mkdir -p "fuzz/corpus/$t"
  local log="fuzz/fuzz-$t.log"
  # corpus/T collects what this run finds (git-ignored); seeds/T is the committed seed corpus.
  # -malloc_limit_mb: one allocation this large from a fuzzed length field is a bug.
  (cd fuzz && RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$FUZZ_TARGET_DIR" cargo fuzz run "${FUZZ_FLAGS[@]}" "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$FUZZ_SECONDS" -malloc_limit_mb=256 -rss_limit_mb=2048 \
    -print_final_stats=1) >"$log" 2>&1 || rc=$?
  grep -E "^stat::(number_of_executed_units|peak_rss_mb)|SUMMARY|panicked|ERROR|Done " "$log" || true
  if [ "$rc" -ne 0 ]; then tail -n 40 "$log"; fi
  return "$rc"
}

step "soak: $SOAK_ROUNDS rounds of kill -9 + rotation + broker restarts" soak
if step "fuzz: build targets" fuzz_build; then
  for t in "${TARGETS[@]}"; do
    step "fuzz: $t for ${FUZZ_SECONDS}s" fuzz_run "$t"
  done
else
  failed=$((failed + ${#TARGETS[@]}))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
