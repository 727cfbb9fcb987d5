#!/usr/bin/env bash
# Belle — logical backup of one database.
#
#   DATABASE_URL=postgres://belle_admin@db.internal:5432/belle ./deploy/backup.sh [OUTPUT_FILE]
#
# Writes a pg_dump custom-format archive (-Fc: compressed, restorable table by table with
# pg_restore) of the database named in DATABASE_URL (falls back to BELLE_DATABASE_URL).
# Default output: ./belle-<database>-<UTC timestamp>.dump. Run it as the owner/admin role:
# it must be able to read every table, including those under row-level security.
#
# NOT in the archive, and needed to read it back:
#   * the key-encryption key (BELLE_KEK / BELLE_KEK_FILE). Personal data in events and in
#     the key table is sealed; without the KEK the restored data keys cannot be unwrapped.
#     Back the KEK up separately (offline / secret manager), never next to the dump.
#   * the token secret (BELLE_TOKEN_SECRET) — losing it only logs everybody out.
#   * cluster-wide roles (belle_command, belle_projections, belle_query, ...): recreate them
#     with the migrations or restore them from `pg_dumpall --roles-only`.
# See deploy/postgres/README.md for the whole procedure.

set -euo pipefail

log() { printf '[belle] %s\n' "$*" >&2; }
die() {
    printf '[belle] ERROR: %s\n' "$*" >&2
    exit 1
}

URL="${DATABASE_URL:-${BELLE_DATABASE_URL:-}}"
[ -n "$URL" ] || die "set DATABASE_URL to the database to back up (postgres://user@host:port/db)"
command -v pg_dump >/dev/null 2>&1 || die "pg_dump not found (Debian: apt-get install postgresql-client)"
command -v pg_restore >/dev/null 2>&1 || die "pg_restore not found (Debian: apt-get install postgresql-client)"

db="$(printf '%s' "$URL" | sed -E 's#^[a-z]+://[^/]*/?##; s#\?.*$##')"
[ -n "$db" ] || db="postgres"
out="${1:-belle-${db}-$(date -u +%Y%m%dT%H%M%SZ).dump}"
[ -e "$out" ] && die "$out already exists; refusing to overwrite it"

tmp="$out.partial"
trap 'rm -f "$tmp"' EXIT
log "dumping database '$db' to $out"
(
    umask 077
    pg_dump --format=custom --compress=6 --no-password --file="$tmp" --dbname="$URL"
) || die "pg_dump failed"
# A dump that pg_restore cannot list is no backup.
pg_restore --list "$tmp" >/dev/null || die "the archive does not read back; keeping nothing"
mv "$tmp" "$out"
trap - EXIT
log "done: $out ($(du -h "$out" | cut -f1)), $(pg_restore --list "$out" | grep -c 'TABLE DATA') tables with data"
log "REMINDER: the KEK (BELLE_KEK / BELLE_KEK_FILE) is not in this file; back it up separately."
