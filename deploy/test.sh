#!/usr/bin/env bash
# Belle — run the whole test suite the way CI does.
#
#   ./deploy/test.sh                      fmt check, clippy, cargo test --workspace
#   ./deploy/test.sh -- --test-threads=1  extra arguments go to `cargo test --workspace`
#   ./deploy/test.sh -p tests             (e.g. only one package's tests)
#
# Finds or starts PostgreSQL and NATS (deploy/lib.sh: DATABASE_URL / NATS_URL when set, the
# local servers on the standard ports, or our own under .data/), then exports
#   BELLE_TEST_DATABASE_URL  superuser URL to a maintenance db (tests create/drop their own
#                            databases and roles)
#   BELLE_TEST_NATS_URL      NATS with JetStream (tests use their own subject/stream prefix)
# Set BELLE_SKIP_LINT=1 to skip the fmt and clippy steps.

set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BELLE_REPO"

T0=$SECONDS
TEST_LOG=""
fmt_duration() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
on_exit() {
    local rc=$?
    if [ "$rc" -eq 0 ]; then
        log "all steps passed; total time $(fmt_duration $((SECONDS - T0)))"
    else
        log "FAILED (exit $rc); total time $(fmt_duration $((SECONDS - T0)))"
    fi
    # The last line: one count over every test binary (cargo prints a summary per
    # binary, and the last of them is often an empty doc-test run).
    if [ -n "$TEST_LOG" ] && [ -f "$TEST_LOG" ]; then
        awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
             END { printf "tests: %d passed, %d failed\n", p, f }' "$TEST_LOG"
        rm -f "$TEST_LOG"
    fi
    exit "$rc"
}
trap on_exit EXIT

# step "NAME" "HINT" CMD... — run one step, fail fast with a clear message.
step() {
    local name="$1" hint="$2" t rc
    shift 2
    log "==> $name: $*"
    t=$SECONDS
    set +e
    "$@"
    rc=$?
    set -e
    if [ "$rc" -ne 0 ]; then
        log "step FAILED: $name (exit $rc, after $(fmt_duration $((SECONDS - t))))"
        [ -n "$hint" ] && log "hint: $hint"
        exit "$rc"
    fi
    log "ok: $name ($(fmt_duration $((SECONDS - t))))"
}

ensure_rust_build_deps
ensure_postgres
ensure_nats
export BELLE_TEST_DATABASE_URL="${BELLE_TEST_DATABASE_URL:-$DATABASE_URL}"
export BELLE_TEST_NATS_URL="${BELLE_TEST_NATS_URL:-$NATS_URL}"
log "BELLE_TEST_DATABASE_URL=$(redact_url "$BELLE_TEST_DATABASE_URL")"
log "BELLE_TEST_NATS_URL=$(redact_url "$BELLE_TEST_NATS_URL")"

if [ "${BELLE_SKIP_LINT:-0}" != "1" ]; then
    cargo fmt --version >/dev/null 2>&1 ||
        die "rustfmt is missing from the Rust toolchain (rustup component add rustfmt)"
    cargo clippy --version >/dev/null 2>&1 ||
        die "clippy is missing from the Rust toolchain (rustup component add clippy)"
    step "format check" "run 'cargo fmt --all' and commit the result" \
        cargo fmt --all --check
    step "clippy" "fix the warnings above (they are errors here: -D warnings)" \
        cargo clippy --workspace --all-targets -- -D warnings
else
    log "BELLE_SKIP_LINT=1: skipping fmt and clippy"
fi
TEST_LOG="$(mktemp)"
run_tests() {
    # Keep cargo's exit status through the tee.
    set -o pipefail
    cargo test --workspace "$@" 2>&1 | tee "$TEST_LOG"
}
step "tests" "run the failing test alone with: cargo test -p <crate> <name> -- --nocapture" \
    run_tests "$@"

