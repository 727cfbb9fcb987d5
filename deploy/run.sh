#!/usr/bin/env bash
# Belle — start everything locally.
#
#   ./deploy/run.sh               start PostgreSQL/NATS if needed, build, migrate, start the
#                                 three services, load the demo salon; stay in the foreground
#                                 (Ctrl-C stops the services)
#   ./deploy/run.sh --detach      the same, but return once everything is up
#   ./deploy/run.sh --no-build    skip `cargo build` (use the binaries already built)
#   ./deploy/run.sh status        show what is running
#   ./deploy/run.sh stop          stop the services of a previous --detach run
#   ./deploy/run.sh stop --all    also stop the PostgreSQL/NATS that deploy/lib.sh started
#                                 itself (never a server it merely found and reused)
#
# Uses DATABASE_URL / NATS_URL when set; see deploy/CONFIG.md for every variable.
# State lives in .data/ (secrets, logs, pids, and our own PostgreSQL/NATS data if any).

set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BELLE_REPO"

SERVICES=(command-service projections query-service)
BIN_DIR="${CARGO_TARGET_DIR:-$BELLE_REPO/target}/release"
DEMO_SLUG="demo-salon"
DEMO_NAME="Demo Salon"
DEMO_LOGIN="owner"
DEMO_PASSWORD="belle-demo-2026"
DEMO_CUSTOMERS=300
DB_NAME="belle"
HEALTH_TIMEOUT="${BELLE_HEALTH_TIMEOUT:-60}"

usage() {
    sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

pidfile() { printf '%s/pids/%s.pid\n' "$BELLE_DATA" "$1"; }

# svc_pid NAME — pid of a running service we started, or nothing.
svc_pid() {
    local f pid
    f="$(pidfile "$1")"
    [ -s "$f" ] || return 0
    pid="$(cat "$f")"
    kill -0 "$pid" 2>/dev/null || return 0
    # Guard against a recycled pid: our services run our binary, as session leaders (setsid).
    if grep -qa -- "$1" "/proc/$pid/cmdline" 2>/dev/null ||
        [ "$(ps -o sid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ]; then
        printf '%s\n' "$pid"
    fi
}

stop_service() {
    local name="$1" pid i
    pid="$(svc_pid "$name")"
    if [ -n "$pid" ]; then
        log "stopping $name (pid $pid)"
        # The service leads its own process group (setsid): signal the group.
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 75); do
            kill -0 "$pid" 2>/dev/null || break
            if [ "$i" -eq 75 ]; then
                warn "$name did not stop within 15 s; killing it"
                kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
            fi
            sleep 0.2
        done
    fi
    rm -f "$(pidfile "$name")"
}

stop_services() {
    # Reverse start order: readers first, the writer (and relay) last.
    local i
    for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
        stop_service "${SERVICES[$i]}"
    done
}

# http://HOST:PORT for a listen address; wildcard hosts are reached through 127.0.0.1.
addr_url() {
    local addr="$1" host port
    host="${addr%:*}"
    port="${addr##*:}"
    case "$host" in
        "" | 0.0.0.0 | "[::]" | "::") host=127.0.0.1 ;;
    esac
    printf 'http://%s:%s\n' "$host" "$port"
}

show_log_tail() {
    local f="$BELLE_DATA/logs/$1.log"
    if [ -s "$f" ]; then
        log "last lines of $f:"
        tail -n 25 "$f" >&2
    fi
}

# start_service NAME ARGS... — background, own session, logs appended to .data/logs/NAME.log.
start_service() {
    local name="$1" logf
    shift
    logf="$BELLE_DATA/logs/$name.log"
    printf '\n===== %s: %s %s =====\n' "$(date -Is)" "$name" "$*" >>"$logf"
    setsid "$BIN_DIR/$name" "$@" >>"$logf" 2>&1 </dev/null &
    printf '%s\n' "$!" >"$(pidfile "$name")"
    log "started $name $* (pid $!, log $logf)"
}

# run_logged LOGNAME CMD... — run to completion, output into .data/logs/LOGNAME.log.
run_logged() {
    local name="$1" logf
    shift
    logf="$BELLE_DATA/logs/$name.log"
    printf '\n===== %s: %s =====\n' "$(date -Is)" "$*" >>"$logf"
    if ! "$@" >>"$logf" 2>&1; then
        show_log_tail "$name"
        die "$name failed (full log: $logf)"
    fi
}

cmd_status() {
    local name pid
    for name in "${SERVICES[@]}"; do
        pid="$(svc_pid "$name")"
        if [ -n "$pid" ]; then log "$name: running (pid $pid)"; else log "$name: not running"; fi
    done
    local caddr="${BELLE_COMMAND_ADDR:-127.0.0.1:8080}" qaddr="${BELLE_QUERY_ADDR:-127.0.0.1:8081}"
    log "command health: $(http_status "$(addr_url "$caddr")/health")"
    log "query health:   $(http_status "$(addr_url "$qaddr")/health")"
}

cmd_stop() {
    belle_mkdirs
    stop_services
    if [ "${1:-}" = "--all" ]; then
        stop_own_nats
        stop_own_postgres
    fi
    log "stopped"
}

# Secrets are created once and reused, so data sealed on one run can be read on the next.
ensure_secrets() {
    local kek="$BELLE_DATA/kek" tok="$BELLE_DATA/token_secret"
    if [ -z "${BELLE_KEK:-}" ] && [ -z "${BELLE_KEK_FILE:-}" ]; then
        if [ ! -s "$kek" ]; then
            (
                umask 077
                printf 'k1:%s' "$(gen_secret)" >"$kek"
            )
            log "created a new key-encryption key in $kek (back it up: data sealed with it is unreadable without it)"
        fi
        export BELLE_KEK_FILE="$kek"
    fi
    if [ -z "${BELLE_TOKEN_SECRET:-}" ] && [ -z "${BELLE_TOKEN_SECRET_FILE:-}" ]; then
        if [ ! -s "$tok" ]; then
            (
                umask 077
                gen_secret >"$tok"
            )
            log "created a new token secret in $tok"
        fi
        export BELLE_TOKEN_SECRET_FILE="$tok"
    fi
}

ensure_database() {
    local exists
    exists="$(psql_q "$DATABASE_URL" "select 1 from pg_database where datname = '$DB_NAME'")"
    if [ "$exists" != "1" ]; then
        log "creating database $DB_NAME"
        psql_q "$DATABASE_URL" "create database \"$DB_NAME\"" >/dev/null
    fi
    BELLE_DATABASE_URL="$(pg_url_with_db "$DATABASE_URL" "$DB_NAME")"
    export BELLE_DATABASE_URL
}

load_demo() {
    local out rc errf="$BELLE_DATA/logs/create-tenant.log" marker="$BELLE_DATA/demo-loaded"
    set +e
    out="$("$BIN_DIR/command-service" create-tenant --slug "$DEMO_SLUG" --name "$DEMO_NAME" \
        --owner-login "$DEMO_LOGIN" --owner-password "$DEMO_PASSWORD" 2>"$errf")"
    rc=$?
    set -e
    case "$rc" in
        0)
            log "created the demo tenant: $out"
            rm -f "$marker"
            log "loading $DEMO_CUSTOMERS demo customers (log: $BELLE_DATA/logs/belle-demo.log)"
            if "$BIN_DIR/belle-demo" --command-url "$COMMAND_URL" --tenant "$DEMO_SLUG" \
                --login "$DEMO_LOGIN" --password "$DEMO_PASSWORD" --customers "$DEMO_CUSTOMERS" \
                >>"$BELLE_DATA/logs/belle-demo.log" 2>&1; then
                printf '%s\n' "$out" >"$marker"
                log "demo data loaded"
            else
                show_log_tail belle-demo
                warn "loading the demo data failed; the tenant exists, the services keep running"
            fi
            ;;
        3)
            log "demo tenant '$DEMO_SLUG' already exists; not loading demo data again"
            if [ ! -s "$marker" ]; then
                log "(demo customers were not loaded by this checkout; to load them: $BIN_DIR/belle-demo --command-url $COMMAND_URL --tenant $DEMO_SLUG --login $DEMO_LOGIN --password '$DEMO_PASSWORD' --customers $DEMO_CUSTOMERS)"
            fi
            ;;
        *)
            cat "$errf" >&2 || true
            die "command-service create-tenant failed (exit $rc)"
            ;;
    esac
}

KEEP_RUNNING=0
STARTED=0
on_exit() {
    local rc=$?
    if [ "$KEEP_RUNNING" -ne 1 ]; then
        stop_services
        if [ "$rc" -ne 0 ]; then
            if [ "$STARTED" -eq 1 ]; then
                log "stopped after a failure (exit $rc); logs are in $BELLE_DATA/logs"
            else
                log "startup failed (exit $rc); logs are in $BELLE_DATA/logs"
            fi
        fi
    fi
    exit "$rc"
}

cmd_start() {
    local detach="$1" build="$2" name pid

    ensure_postgres
    ensure_nats
    ensure_rust_build_deps
    ensure_secrets
    ensure_database
    export BELLE_NATS_URL="$NATS_URL"
    export BELLE_COMMAND_ADDR="${BELLE_COMMAND_ADDR:-127.0.0.1:8080}"
    export BELLE_QUERY_ADDR="${BELLE_QUERY_ADDR:-127.0.0.1:8081}"
    # Development: customers' sign-in codes (and later reminders) land in this file.
    export BELLE_NOTIFY_LOG_FILE="${BELLE_NOTIFY_LOG_FILE:-$BELLE_DATA/notifications.jsonl}"
    COMMAND_URL="$(addr_url "$BELLE_COMMAND_ADDR")"
    QUERY_URL="$(addr_url "$BELLE_QUERY_ADDR")"

    if [ "$build" = 1 ]; then
        log "building release binaries (cargo build --release --workspace --bins)"
        cargo build --release --workspace --bins || die "cargo build failed"
    fi
    for name in command-service query-service projections belle-demo; do
        [ -x "$BIN_DIR/$name" ] || die "$BIN_DIR/$name is missing (build failed or --no-build without a build)"
    done

    # Services left over from an earlier --detach run: replace them.
    for name in "${SERVICES[@]}"; do
        pid="$(svc_pid "$name")"
        if [ -n "$pid" ]; then
            log "$name from an earlier run is still running; restarting it"
            stop_service "$name"
        fi
    done
    local hp
    for hp in "$BELLE_COMMAND_ADDR" "$BELLE_QUERY_ADDR"; do
        local u="${hp%:*}"
        case "$u" in "" | 0.0.0.0 | "[::]" | "::") u=127.0.0.1 ;; esac
        if tcp_open "$u" "${hp##*:}"; then
            die "$hp is already in use by another program; set BELLE_COMMAND_ADDR / BELLE_QUERY_ADDR to free addresses"
        fi
    done

    log "running migrations on $(redact_url "$BELLE_DATABASE_URL")"
    run_logged migrate "$BIN_DIR/command-service" migrate

    trap on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP

    start_service command-service serve
    start_service projections run
    start_service query-service serve

    log "waiting for $COMMAND_URL/health"
    wait_http "$COMMAND_URL/health" "$HEALTH_TIMEOUT" ||
        {
            show_log_tail command-service
            die "command-service did not become healthy within ${HEALTH_TIMEOUT}s"
        }
    log "waiting for $QUERY_URL/health"
    wait_http "$QUERY_URL/health" "$HEALTH_TIMEOUT" ||
        {
            show_log_tail query-service
            die "query-service did not become healthy within ${HEALTH_TIMEOUT}s"
        }
    if [ -z "$(svc_pid projections)" ]; then
        show_log_tail projections
        die "projections exited during startup"
    fi

    load_demo
    STARTED=1

    cat >&2 <<EOF

[belle] Belle is running.
[belle]   command API   $COMMAND_URL        (OpenAPI: $COMMAND_URL/openapi.json)
[belle]   query API     $QUERY_URL        (OpenAPI: $QUERY_URL/openapi.json)
[belle]   demo salon    tenant '$DEMO_SLUG', login '$DEMO_LOGIN', password '$DEMO_PASSWORD'
[belle]   database      $(redact_url "$BELLE_DATABASE_URL")
[belle]   NATS          $(redact_url "$NATS_URL")
[belle]   logs          $BELLE_DATA/logs/{command-service,projections,query-service}.log
[belle]   messages      $BELLE_NOTIFY_LOG_FILE (the log channel: customers' sign-in codes)
EOF

    if [ "$detach" = 1 ]; then
        KEEP_RUNNING=1
        trap - EXIT INT TERM HUP
        log "detached; stop with: ./deploy/run.sh stop"
        return 0
    fi

    log "press Ctrl-C to stop"
    trap 'log "stopping"; exit 0' INT TERM HUP
    while :; do
        for name in "${SERVICES[@]}"; do
            if [ -z "$(svc_pid "$name")" ]; then
                show_log_tail "$name"
                die "$name exited unexpectedly; stopping the others"
            fi
        done
        sleep 2 &
        wait $! || true
    done
}

main() {
    local action=start detach=0 build=1 stop_arg=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --detach | -d) detach=1 ;;
            --no-build) build=0 ;;
            start) action=start ;;
            stop) action=stop ;;
            status) action=status ;;
            --all) stop_arg="--all" ;;
            -h | --help)
                usage
                exit 0
                ;;
            *)
                usage >&2
                die "unknown argument: $1"
                ;;
        esac
        shift
    done
    case "$action" in
        start) cmd_start "$detach" "$build" ;;
        stop) cmd_stop "$stop_arg" ;;
        status) cmd_status ;;
    esac
}

main "$@"
