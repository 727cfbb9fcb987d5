# shellcheck shell=bash
# Belle — shared helpers for deploy/run.sh, deploy/test.sh and deploy/bench.sh.
#
# Source it; do not execute it:   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Provides:
#   ensure_postgres         -> exports DATABASE_URL (a superuser URL to a maintenance db)
#   ensure_nats             -> exports NATS_URL (a NATS server with JetStream)
#   ensure_rust_build_deps  -> cargo present (else exit), gcc/pkg-config installed
#   wait_http URL TIMEOUT   -> 0 once URL answers HTTP 200, 1 after TIMEOUT seconds
#   gen_secret              -> prints 32 random bytes, base64
#   pg_url_with_db URL DB   -> prints URL with its database replaced by DB
#   stop_own_postgres / stop_own_nats -> stop the servers this file started (never others)
#
# Everything here is idempotent: a second call (or a second run) reuses what the first
# one found or started.

set -euo pipefail

BELLE_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BELLE_DATA="${BELLE_DATA_DIR:-$BELLE_REPO/.data}"
BELLE_OWN_PG_PORT=54329
BELLE_OWN_NATS_PORT=42229
_BELLE_APT_UPDATED=0

log() { printf '[belle] %s\n' "$*" >&2; }
warn() { printf '[belle] WARNING: %s\n' "$*" >&2; }
die() {
    printf '[belle] ERROR: %s\n' "$*" >&2
    exit 1
}

belle_mkdirs() {
    mkdir -p "$BELLE_DATA" "$BELLE_DATA/logs" "$BELLE_DATA/pids"
}

# Run a command as root (directly when we are root, else through sudo).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run: $* (run as root or install sudo)"
    fi
}

# apt_install PKG... — install Debian packages, running `apt-get update` once per process.
apt_install() {
    command -v apt-get >/dev/null 2>&1 ||
        die "apt-get not found: install these packages by hand: $*"
    if [ "$_BELLE_APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 ||
            die "apt-get update failed"
        _BELLE_APT_UPDATED=1
    fi
    log "installing OS packages: $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "$@" >&2 || die "apt-get install $* failed"
}

# gen_secret — 32 random bytes, base64 (one line, 44 characters).
gen_secret() {
    head -c 32 /dev/urandom | base64 | tr -d '\n'
}

# tcp_open HOST PORT — true if something accepts a TCP connection there (2 s timeout).
tcp_open() {
    local host="$1" port="$2"
    if command -v nc >/dev/null 2>&1; then
        nc -z -w 2 "$host" "$port" >/dev/null 2>&1 && return 0
    fi
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" >/dev/null 2>&1
}

# nats_info HOST PORT — print the INFO line a NATS server sends on connect (empty if none).
nats_info() {
    local host="$1" port="$2"
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 1
        IFS= read -r -t 2 line <&3 || exit 1
        printf "%s\n" "$line"' _ "$host" "$port" 2>/dev/null || true
}

# url_host_port URL DEFAULT_PORT — "host port" of a nats:// or postgres:// style URL
# (first server of a comma-separated list; credentials stripped).
url_host_port() {
    local url="$1" default_port="$2" rest host port
    rest="${url%%,*}"
    rest="${rest#*://}"
    rest="${rest%%/*}"
    rest="${rest%%\?*}"
    rest="${rest##*@}"
    if [[ "$rest" == \[*\]* ]]; then # [ipv6]:port
        host="${rest%%]*}"
        host="${host#[}"
        port="${rest##*]}"
        port="${port#:}"
    elif [[ "$rest" == *:* ]]; then
        host="${rest%%:*}"
        port="${rest##*:}"
    else
        host="$rest"
        port=""
    fi
    printf '%s %s\n' "${host:-127.0.0.1}" "${port:-$default_port}"
}

# pg_url_with_db URL DB — the same server and credentials, another database.
pg_url_with_db() {
    local url="$1" db="$2" base query="" scheme rest authority
    case "$url" in
        postgres://* | postgresql://*) ;;
        *) die "DATABASE_URL must be a postgres:// URL (got something else)" ;;
    esac
    base="${url%%\?*}"
    if [ "$base" != "$url" ]; then query="${url#*\?}"; fi
    scheme="${base%%://*}"
    rest="${base#*://}"
    authority="${rest%%/*}"
    printf '%s://%s/%s%s\n' "$scheme" "$authority" "$db" "${query:+?$query}"
}

# URL for log lines, password hidden.
redact_url() {
    printf '%s\n' "$1" | sed -E 's#(://[^:/@]+):[^@/]*@#\1:***@#'
}

# psql_q URL SQL — run one statement, unaligned/tuples-only output, no password prompt.
psql_q() {
    PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-5}" psql -X -w -v ON_ERROR_STOP=1 -Atq \
        -d "$1" -c "$2"
}

ensure_psql() {
    if ! command -v psql >/dev/null 2>&1; then
        apt_install postgresql-client
        command -v psql >/dev/null 2>&1 || die "psql still missing after installing postgresql-client"
    fi
}

# Directory of the newest PostgreSQL server binaries (initdb, pg_ctl), or empty.
pg_bindir() {
    local d best=""
    # Version directories sorted numerically: the last usable one wins.
    while IFS= read -r d; do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then best="$d"; fi
    done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -V)
    if [ -z "$best" ] && command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        best="$(dirname "$(command -v pg_ctl)")"
    fi
    printf '%s\n' "$best"
}

# Where our own cluster lives. $BELLE_DATA/pg unless the postgres OS user cannot reach it
# (e.g. the checkout sits under a 0700 home directory); then a per-checkout dir in /var/lib.
own_pg_dir() {
    local dir="$BELLE_DATA/pg"
    if [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1; then
        if ! runuser -u postgres -- test -x "$BELLE_DATA" 2>/dev/null; then
            dir="/var/lib/belle-pg/$(printf '%s' "$BELLE_REPO" | cksum | cut -d' ' -f1)"
        fi
    fi
    printf '%s\n' "$dir"
}

# Run a PostgreSQL server binary as the right OS user (PostgreSQL refuses to run as root).
as_pg_user() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start_own_postgres() {
    local bindir pgdir url
    bindir="$(pg_bindir)"
    if [ -z "$bindir" ]; then
        apt_install postgresql
        bindir="$(pg_bindir)"
        [ -n "$bindir" ] || die "initdb/pg_ctl not found under /usr/lib/postgresql/*/bin after installing postgresql"
    fi
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
        die "OS user 'postgres' missing (it comes with the postgresql package); cannot run PostgreSQL as root"
    fi
    pgdir="$(own_pg_dir)"
    if [ "$pgdir" != "$BELLE_DATA/pg" ]; then
        log "the postgres OS user cannot enter $BELLE_DATA; keeping our cluster in $pgdir"
    fi
    mkdir -p "$pgdir"
    chmod 700 "$pgdir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$pgdir"; fi

    if [ ! -s "$pgdir/PG_VERSION" ]; then
        log "initialising our own PostgreSQL cluster in $pgdir ($("$bindir/postgres" --version 2>/dev/null || echo postgres))"
        as_pg_user "$bindir/initdb" -D "$pgdir" -A trust -U postgres -E UTF8 --locale=C \
            >"$BELLE_DATA/logs/initdb.log" 2>&1 ||
            die "initdb failed; see $BELLE_DATA/logs/initdb.log"
        as_pg_user tee -a "$pgdir/postgresql.conf" >/dev/null <<EOF

# --- added by deploy/lib.sh (Belle local development cluster) ---
listen_addresses = '127.0.0.1'
port = $BELLE_OWN_PG_PORT
unix_socket_directories = ''
max_connections = 300
shared_buffers = 256MB
EOF
    fi

    if as_pg_user "$bindir/pg_ctl" -D "$pgdir" status >/dev/null 2>&1; then
        log "our own PostgreSQL cluster is already running ($pgdir)"
    else
        log "starting our own PostgreSQL on 127.0.0.1:$BELLE_OWN_PG_PORT (log: $pgdir/server.log)"
        as_pg_user "$bindir/pg_ctl" -D "$pgdir" -l "$pgdir/server.log" -w -t 60 start >/dev/null ||
            {
                tail -n 20 "$pgdir/server.log" >&2 || true
                die "could not start PostgreSQL in $pgdir (log above)"
            }
    fi

    url="postgres://postgres@127.0.0.1:$BELLE_OWN_PG_PORT/postgres"
    local i
    for i in $(seq 1 30); do
        if psql_q "$url" 'select 1' >/dev/null 2>&1; then break; fi
        [ "$i" -eq 30 ] && die "our PostgreSQL at 127.0.0.1:$BELLE_OWN_PG_PORT does not accept connections"
        sleep 1
    done
    export DATABASE_URL="$url"
}

# ensure_postgres — find or start a PostgreSQL server; export DATABASE_URL (superuser,
# maintenance database).
ensure_postgres() {
    belle_mkdirs
    ensure_psql
    if [ -n "${DATABASE_URL:-}" ]; then
        local err
        if ! err="$(psql_q "$DATABASE_URL" 'select 1' 2>&1 >/dev/null)"; then
            die "DATABASE_URL=$(redact_url "$DATABASE_URL") does not answer: $err"
        fi
        log "PostgreSQL: using DATABASE_URL=$(redact_url "$DATABASE_URL")"
    elif psql_q "postgres://postgres@127.0.0.1:5432/postgres" 'select 1' >/dev/null 2>&1; then
        export DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
        log "PostgreSQL: reusing the server at 127.0.0.1:5432 (user postgres, trust auth)"
    else
        log "PostgreSQL: nothing usable at 127.0.0.1:5432 without a password; using our own cluster"
        start_own_postgres
        log "PostgreSQL: using our own cluster, DATABASE_URL=$DATABASE_URL"
    fi
    local is_super
    is_super="$(psql_q "$DATABASE_URL" "select rolsuper from pg_roles where rolname = current_user" 2>/dev/null || true)"
    if [ "$is_super" != "t" ]; then
        warn "the DATABASE_URL role is not a superuser: creating databases/roles may fail"
    fi
}

stop_own_postgres() {
    local bindir pgdir
    bindir="$(pg_bindir)"
    pgdir="$(own_pg_dir)"
    if [ -n "$bindir" ] && [ -s "$pgdir/PG_VERSION" ] &&
        as_pg_user "$bindir/pg_ctl" -D "$pgdir" status >/dev/null 2>&1; then
        log "stopping our own PostgreSQL ($pgdir)"
        as_pg_user "$bindir/pg_ctl" -D "$pgdir" -m fast -w stop >/dev/null || warn "pg_ctl stop failed"
    fi
}

# nats_ok HOST PORT — a NATS server with JetStream answers there.
nats_ok() {
    local info
    info="$(nats_info "$1" "$2")"
    case "$info" in
        INFO*'"jetstream":true'*) return 0 ;;
        INFO*)
            warn "NATS at $1:$2 has JetStream disabled"
            return 1
            ;;
        *) return 1 ;;
    esac
}

nats_server_bin() {
    if command -v nats-server >/dev/null 2>&1; then
        command -v nats-server
    elif [ -x /usr/sbin/nats-server ]; then
        echo /usr/sbin/nats-server
    elif [ -x /usr/bin/nats-server ]; then
        echo /usr/bin/nats-server
    fi
}

start_own_nats() {
    local bin pidfile="$BELLE_DATA/pids/nats.pid" i
    bin="$(nats_server_bin)"
    if [ -z "$bin" ]; then
        apt_install nats-server
        bin="$(nats_server_bin)"
        [ -n "$bin" ] || die "nats-server still missing after installing the nats-server package"
    fi
    mkdir -p "$BELLE_DATA/nats"
    log "starting our own nats-server (JetStream) on 127.0.0.1:$BELLE_OWN_NATS_PORT (log: $BELLE_DATA/logs/nats.log)"
    # setsid: the server outlives this script (run.sh --detach, later test runs reuse it).
    setsid "$bin" -js -sd "$BELLE_DATA/nats" -a 127.0.0.1 -p "$BELLE_OWN_NATS_PORT" \
        -P "$pidfile" >>"$BELLE_DATA/logs/nats.log" 2>&1 </dev/null &
    for i in $(seq 1 100); do
        if nats_ok 127.0.0.1 "$BELLE_OWN_NATS_PORT"; then return 0; fi
        if [ "$i" -eq 100 ]; then
            tail -n 20 "$BELLE_DATA/logs/nats.log" >&2 || true
            die "our nats-server did not come up on 127.0.0.1:$BELLE_OWN_NATS_PORT (log above)"
        fi
        sleep 0.2
    done
}

# ensure_nats — find or start a NATS server with JetStream; export NATS_URL.
ensure_nats() {
    belle_mkdirs
    local hp host port
    if [ -n "${NATS_URL:-}" ]; then
        hp="$(url_host_port "$NATS_URL" 4222)"
        host="${hp% *}"
        port="${hp#* }"
        tcp_open "$host" "$port" || die "NATS_URL=$(redact_url "$NATS_URL") does not answer ($host:$port)"
        log "NATS: using NATS_URL=$(redact_url "$NATS_URL")"
    elif nats_ok 127.0.0.1 4222; then
        export NATS_URL="nats://127.0.0.1:4222"
        log "NATS: reusing the server at 127.0.0.1:4222 (JetStream enabled)"
    elif nats_ok 127.0.0.1 "$BELLE_OWN_NATS_PORT"; then
        export NATS_URL="nats://127.0.0.1:$BELLE_OWN_NATS_PORT"
        log "NATS: our own nats-server is already running on 127.0.0.1:$BELLE_OWN_NATS_PORT"
    else
        log "NATS: no server with JetStream at 127.0.0.1:4222; using our own"
        start_own_nats
        export NATS_URL="nats://127.0.0.1:$BELLE_OWN_NATS_PORT"
        log "NATS: using our own nats-server, NATS_URL=$NATS_URL"
    fi
}

stop_own_nats() {
    local pidfile="$BELLE_DATA/pids/nats.pid" pid
    [ -s "$pidfile" ] || return 0
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null && grep -qa nats-server "/proc/$pid/cmdline" 2>/dev/null; then
        log "stopping our own nats-server (pid $pid)"
        kill "$pid" 2>/dev/null || true
        local i
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
    fi
    rm -f "$pidfile"
}

# ensure_rust_build_deps — the Rust toolchain must be there; gcc and pkg-config are installed.
ensure_rust_build_deps() {
    if ! command -v cargo >/dev/null 2>&1; then
        if [ -x "$HOME/.cargo/bin/cargo" ]; then
            export PATH="$HOME/.cargo/bin:$PATH"
        else
            die "cargo not found: install the Rust toolchain (https://rustup.rs) and re-run"
        fi
    fi
    local missing=()
    command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    if [ "${#missing[@]}" -gt 0 ]; then
        apt_install "${missing[@]}"
    fi
}

# http_status URL — print the HTTP status code of a GET (000 when nothing answers).
http_status() {
    local url="$1"
    if command -v curl >/dev/null 2>&1; then
        curl -s -o /dev/null -m 3 -w '%{http_code}' "$url" 2>/dev/null || true
        return 0
    fi
    # Fallback without curl: plain HTTP/1.0 over /dev/tcp.
    local rest hostport path host port line
    rest="${url#http://}"
    hostport="${rest%%/*}"
    path="/${rest#*/}"
    [ "$rest" = "$hostport" ] && path="/"
    host="${hostport%:*}"
    port="${hostport##*:}"
    [ "$host" = "$hostport" ] && port=80
    # shellcheck disable=SC2016 # expanded by the inner bash
    line="$(timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 1
        printf "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" "$3" "$1" >&3
        IFS= read -r l <&3; printf "%s" "$l"' _ "$host" "$port" "$path" 2>/dev/null || true)"
    line="${line#HTTP/* }"
    printf '%s' "${line:0:3}"
    [ -n "$line" ] || printf '000'
}

# wait_http URL TIMEOUT_SECONDS — wait until GET URL answers 200.
wait_http() {
    local url="$1" timeout_s="${2:-30}" start
    start="$(date +%s)"
    while :; do
        if [ "$(http_status "$url")" = "200" ]; then return 0; fi
        if [ $(($(date +%s) - start)) -ge "$timeout_s" ]; then return 1; fi
        sleep 0.5
    done
}
