#!/usr/bin/env bash
# Belle — restore a deploy/backup.sh archive into a NEW database.
#
#   DATABASE_URL=postgres://postgres@db.internal:5432/postgres \
#       ./deploy/restore.sh DUMP_FILE NEW_DATABASE [extra pg_restore arguments...]
#
# DATABASE_URL names the target server and a role that may create databases (any database
# on that server works, e.g. the maintenance db "postgres"). NEW_DATABASE must not exist:
# this script never restores over live data. The login roles the services use
# (BELLE_DB_APP_USER_COMMAND / _PROJECTIONS / _QUERY, default belle_command,
# belle_projections, belle_query) are created, LOGIN NOBYPASSRLS, when missing, so that the
# archive's GRANTs apply; give them passwords afterwards as in deploy/postgres/README.md.
# Restoring as a different owner role than the original? pass --no-owner.
#
# Afterwards: point BELLE_DATABASE_URL at the new database, start the services with the SAME
# KEK as when the dump was taken, and run `projections verify`. See deploy/postgres/README.md.

set -euo pipefail

log() { printf '[belle] %s\n' "$*" >&2; }
die() {
    printf '[belle] ERROR: %s\n' "$*" >&2
    exit 1
}

[ $# -ge 2 ] || die "usage: DATABASE_URL=postgres://... $0 DUMP_FILE NEW_DATABASE [pg_restore args...]"
dump="$1"
newdb="$2"
shift 2
URL="${DATABASE_URL:-}"
[ -n "$URL" ] || die "set DATABASE_URL to the target server (postgres://user@host:port/postgres)"
[ -r "$dump" ] || die "cannot read $dump"
[[ "$newdb" =~ ^[a-z_][a-z0-9_]*$ ]] || die "database name must match [a-z_][a-z0-9_]*"
command -v psql >/dev/null 2>&1 || die "psql not found (Debian: apt-get install postgresql-client)"
command -v pg_restore >/dev/null 2>&1 || die "pg_restore not found (Debian: apt-get install postgresql-client)"
case "$URL" in postgres://* | postgresql://*) ;; *) die "DATABASE_URL must be a postgres:// URL" ;; esac

q() { psql -X -w -v ON_ERROR_STOP=1 -Atq -d "$1" -c "$2"; }

pg_restore --list "$dump" >/dev/null || die "$dump is not a pg_dump custom-format archive"
if [ "$(q "$URL" "select 1 from pg_database where datname = '$newdb'")" = "1" ]; then
    die "database $newdb already exists; choose a new name (restore never overwrites)"
fi

for role in "${BELLE_DB_APP_USER_COMMAND:-belle_command}" \
    "${BELLE_DB_APP_USER_PROJECTIONS:-belle_projections}" \
    "${BELLE_DB_APP_USER_QUERY:-belle_query}"; do
    [[ "$role" =~ ^[a-z_][a-z0-9_]*$ ]] || die "unexpected role name: $role"
    if [ "$(q "$URL" "select 1 from pg_roles where rolname = '$role'")" != "1" ]; then
        log "creating missing login role $role (LOGIN NOSUPERUSER NOBYPASSRLS)"
        q "$URL" "create role \"$role\" login nosuperuser nocreatedb nocreaterole nobypassrls" >/dev/null
    fi
done

base="${URL%%\?*}"
query=""
[ "$base" != "$URL" ] && query="${URL#*\?}"
rest="${base#*://}"
target="${base%%://*}://${rest%%/*}/${newdb}${query:+?$query}"

log "creating database $newdb"
q "$URL" "create database \"$newdb\"" >/dev/null
log "restoring $dump into $newdb"
if ! pg_restore --no-password --exit-on-error --single-transaction --dbname="$target" "$@" "$dump"; then
    die "pg_restore failed; nothing was committed. Drop the empty database with: psql \"\$DATABASE_URL\" -c 'drop database $newdb'"
fi
log "analyzing $newdb"
q "$target" "analyze" >/dev/null
log "restored into database $newdb."
log "next: set BELLE_DATABASE_URL to it, start the services with the KEK in force when the dump was taken, run 'projections verify'."
