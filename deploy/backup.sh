#!/bin/sh
# Nightly pg_dump of the dashboard database (run by dashboard-backup.timer as postgres).
# Restore into a new database (extensions first, as postgres):
#   sudo sh /opt/dashboard/current/deploy/restore.sh /var/backups/dashboard/FILE.dump dashboard_restore
set -eu
DB_NAME=${DB_NAME:-dashboard}
BACKUP_DIR=${BACKUP_DIR:-/var/backups/dashboard}
KEEP_DAYS=${KEEP_DAYS:-14}
mkdir -p "$BACKUP_DIR"
cd "$BACKUP_DIR"   # not the caller's directory, which postgres may not be allowed to enter
OUT="$BACKUP_DIR/$DB_NAME-$(date +%Y%m%d-%H%M%S).dump"
pg_dump --format=custom --compress=6 --file="$OUT.part" "$DB_NAME"
mv "$OUT.part" "$OUT"
pg_restore --list "$OUT" > /dev/null   # the file is a readable archive
find "$BACKUP_DIR" -name "$DB_NAME-*.dump" -mtime +"$KEEP_DAYS" -delete
echo "backup written: $OUT ($(du -h "$OUT" | cut -f1))"
