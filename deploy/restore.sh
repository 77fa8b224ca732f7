#!/bin/sh
# Restore a backup made by deploy/backup.sh into a NEW database owned by the dashboard role:
#     sudo sh /opt/dashboard/current/deploy/restore.sh /var/backups/dashboard/FILE.dump [dashboard_restore]
# Extensions in the archive (PostGIS) can only be created by a superuser: they are created
# first, as postgres, and left out of the part restored as the dashboard role. Any error stops
# the restore. Then check the copy (docs/DEPLOY.md, step 6) before pointing DATABASE_URL at it.
set -eu
[ "$(id -u)" = 0 ] || { echo "run as root (sudo)"; exit 1; }
[ $# -ge 1 ] || { sed -n '2,7p' "$0"; exit 2; }
FILE=$(readlink -f "$1")
TARGET=${2:-dashboard_restore}
OWNER=${OWNER:-dashboard}
[ -r "$FILE" ] || { echo "cannot read $FILE"; exit 1; }
cd /
pg() { runuser -u postgres -- "$@"; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
chmod 755 "$TMP"
pg pg_restore --list "$FILE" > "$TMP/all" || { echo "$FILE is not a readable pg_dump archive"; exit 1; }
if pg psql -tAc "SELECT 1 FROM pg_database WHERE datname='$TARGET'" | grep -q 1; then
    echo "database $TARGET already exists: give another name, or drop it first"; exit 1
fi
pg createdb -O "$OWNER" -E UTF8 -T template0 "$TARGET"
for ext in $(awk '$4 == "EXTENSION" && $5 == "-" {print $6}' "$TMP/all"); do
    pg psql -q -d "$TARGET" -c "CREATE EXTENSION IF NOT EXISTS \"$ext\""
    echo "extension $ext created (as postgres)"
done
# tables that belong to an extension (PostGIS's spatial_ref_sys) are postgres's: their rows
# (if the archive has any) are restored as postgres, everything else as the dashboard role
pg psql -tA -d "$TARGET" -c "SELECT n.nspname || ' ' || c.relname FROM pg_depend d
    JOIN pg_class c ON c.oid = d.objid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE d.deptype = 'e' AND d.classid = 'pg_class'::regclass AND c.relkind = 'r'" > "$TMP/ext_tables"
awk -v list="$TMP/list" -v ext="$TMP/ext_list" '
    FILENAME == ARGV[1] { own[$0] = 1; next }
    $4 == "EXTENSION" || ($4 == "COMMENT" && $6 == "EXTENSION") { next }
    $4 == "TABLE" && $5 == "DATA" && (($6 " " $7) in own) { print > ext; next }
    { print > list }' "$TMP/ext_tables" "$TMP/all"
touch "$TMP/ext_list"
chmod 644 "$TMP/list" "$TMP/ext_list"
pg pg_restore --no-owner --role="$OWNER" --exit-on-error -L "$TMP/list" -d "$TARGET" "$FILE"
if [ -s "$TMP/ext_list" ]; then
    pg pg_restore --exit-on-error -L "$TMP/ext_list" -d "$TARGET" "$FILE"
fi
echo "restored $FILE into database $TARGET (owner $OWNER)"
