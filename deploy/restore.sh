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
grep -vE '^[0-9]+; [0-9]+ [0-9]+ (EXTENSION|COMMENT - EXTENSION) ' "$TMP/all" > "$TMP/list"
chmod 644 "$TMP/list"
pg pg_restore --no-owner --role="$OWNER" --exit-on-error -L "$TMP/list" -d "$TARGET" "$FILE"
echo "restored $FILE into database $TARGET (owner $OWNER)"
