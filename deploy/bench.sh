#!/usr/bin/env bash
# Belle — run the benchmark program (target/release/belle-bench) against a fresh database.
#
#   ./deploy/bench.sh [belle-bench arguments...]
#
# Finds or starts PostgreSQL and NATS (deploy/lib.sh), creates a database
# belle_bench_<timestamp>, generates throw-away secrets, builds the release binaries, runs
# belle-bench (which starts its own services in-process from the environment), copies its
# standard output to .data/bench-last.txt, drops the database, and exits with belle-bench's
# status. BELLE_BENCH_KEEP_DB=1 keeps the database for inspection. BELLE_LOG defaults to
# "warn" here so service logs do not drown the report.

set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BELLE_REPO"

BIN_DIR="${CARGO_TARGET_DIR:-$BELLE_REPO/target}/release"
STAMP="$(date +%Y%m%d%H%M%S)"
BENCH_DB="belle_bench_${STAMP}_$$"
DB_CREATED=0

# shellcheck disable=SC2317 # invoked by the EXIT trap
drop_bench_db() {
    local rc=$?
    if [ "$DB_CREATED" -eq 1 ]; then
        if [ "${BELLE_BENCH_KEEP_DB:-0}" = "1" ]; then
            log "keeping database $BENCH_DB (BELLE_BENCH_KEEP_DB=1)"
        else
            log "dropping database $BENCH_DB"
            psql_q "$DATABASE_URL" "drop database if exists \"$BENCH_DB\" with (force)" >/dev/null 2>&1 ||
                psql_q "$DATABASE_URL" "drop database if exists \"$BENCH_DB\"" >/dev/null ||
                warn "could not drop database $BENCH_DB; drop it by hand"
        fi
    fi
    exit "$rc"
}
trap drop_bench_db EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_rust_build_deps
ensure_postgres
ensure_nats

log "building release binaries (cargo build --release --workspace --bins)"
cargo build --release --workspace --bins || die "cargo build failed"
[ -x "$BIN_DIR/belle-bench" ] || die "$BIN_DIR/belle-bench is missing after the build"

log "creating database $BENCH_DB"
psql_q "$DATABASE_URL" "create database \"$BENCH_DB\"" >/dev/null
DB_CREATED=1

BELLE_DATABASE_URL="$(pg_url_with_db "$DATABASE_URL" "$BENCH_DB")"
export BELLE_DATABASE_URL
export BELLE_NATS_URL="$NATS_URL"
# A prefix of its own, so the benchmark's subjects and stream never mix with a
# ./deploy/run.sh instance on the same NATS server.
export BELLE_NATS_PREFIX="${BELLE_BENCH_NATS_PREFIX:-bench${STAMP}}"
# Throw-away secrets: the database is dropped at the end anyway.
BELLE_KEK="k1:$(gen_secret)"
BELLE_TOKEN_SECRET="$(gen_secret)"
export BELLE_KEK BELLE_TOKEN_SECRET
unset BELLE_KEK_FILE BELLE_TOKEN_SECRET_FILE
export BELLE_LOG="${BELLE_LOG:-warn}"

log "running belle-bench on $(redact_url "$BELLE_DATABASE_URL"), NATS $(redact_url "$NATS_URL") (prefix $BELLE_NATS_PREFIX)"
OUT="$BELLE_DATA/bench-last.txt"
set +e
"$BIN_DIR/belle-bench" "$@" | tee "$OUT"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -eq 0 ]; then
    log "benchmark finished; report saved to $OUT"
else
    log "belle-bench exited with status $status (output so far in $OUT)"
fi
exit "$status"
