#!/bin/sh
# Upgrade to a new release with the app staying up:
#     sudo sh deploy/upgrade.sh        (run from the new, unpacked release)
# 1. install the release beside the running one; 2. back up the database;
# 3. `alembic upgrade head` (migrations only add: the running processes keep working);
# 4. rebuild the aggregates; 5. switch the `current` link; 6. restart the processes
# one at a time, so nginx always has one to send browsers to.
# Going back: `ln -sfn /opt/dashboard/releases/OLD /opt/dashboard/current` and restart;
# restore the backup from step 2 if a migration must be undone.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
RELEASE=/opt/dashboard/releases/$(date +%Y%m%d%H%M%S)
PYTHON=/usr/bin/python3   # Debian's Python, as in install-debian.sh (not a pyenv/conda one under /root)
have_systemd() { [ -d /run/systemd/system ]; }
[ "$(id -u)" = 0 ] || { echo "run as root (sudo)"; exit 1; }
[ -f "$SRC/app.py" ] || { echo "run from an unpacked release (app.py not found in $SRC)"; exit 1; }
[ -f /etc/dashboard/dashboard.env ] || { echo "no /etc/dashboard/dashboard.env: run deploy/install-debian.sh first"; exit 1; }
OLD=$(readlink -f /opt/dashboard/current || true)

echo "== install $RELEASE"
rsync -a --exclude /.venv --exclude /data --exclude /.git --exclude '*.db' "$SRC/" "$RELEASE/"
"$PYTHON" -m venv "$RELEASE/.venv"
"$RELEASE/.venv/bin/pip" install --quiet --upgrade pip
"$RELEASE/.venv/bin/pip" install --quiet -r "$RELEASE/requirements.txt"
chmod 755 "$RELEASE"/deploy/*.sh
chown -R dashboard:dashboard "$RELEASE"

echo "== backup"
# root reads backup.env (/etc/dashboard is not readable by postgres); pg_dump runs as postgres
( set -a; . /etc/dashboard/backup.env; set +a; cd /; runuser -u postgres -- sh "$RELEASE/deploy/backup.sh" )

echo "== alembic upgrade head"
# as install-debian.sh: a PostGIS installed since (or a release that starts using it) needs the
# extension created by a superuser before the migrations, which run as the dashboard role
DB_NAME=$(sed -n 's#^DATABASE_URL=.*/\([^/?]*\).*#\1#p' /etc/dashboard/dashboard.env)
if ! grep -qiE '^DASHBOARD_POSTGIS=(off|0|false|no)[[:space:]]*$' /etc/dashboard/dashboard.env && \
   runuser -u postgres -- psql -tAc "SELECT 1 FROM pg_available_extensions WHERE name='postgis'" | grep -q 1; then
    PGOPTIONS='-c client_min_messages=warning' runuser -u postgres -- psql -q -d "$DB_NAME" -c 'CREATE EXTENSION IF NOT EXISTS postgis'
fi
runuser -u dashboard -- sh -c "set -a; . /etc/dashboard/dashboard.env; set +a; cd $RELEASE && .venv/bin/alembic upgrade head && .venv/bin/python -m dashboard aggregates"

echo "== switch $OLD -> $RELEASE"
ln -sfn "$RELEASE" /opt/dashboard/current
install -m 644 "$RELEASE/deploy/systemd/dashboard@.service" "$RELEASE/deploy/systemd/dashboard.target" \
    "$RELEASE/deploy/systemd/dashboard-backup.service" "$RELEASE/deploy/systemd/dashboard-backup.timer" \
    /etc/systemd/system/
if ! have_systemd; then
    echo "!! systemd is not running here: restart each streamlit process yourself (they run the"
    echo "!! old release until then; /opt/dashboard/current now points at $RELEASE)."
    echo "upgraded to $RELEASE (processes not restarted)"
    exit 0
fi
echo "== restart one process at a time"
systemctl daemon-reload
for unit in $(systemctl list-units --plain --no-legend 'dashboard@*.service' | awk '{print $1}'); do
    systemctl restart "$unit"
    port=${unit#dashboard@}; port=${port%.service}
    i=0
    until curl -fsS "http://127.0.0.1:$port/_stcore/health" >/dev/null 2>&1; do
        i=$((i + 1)); [ "$i" -lt 60 ] || { echo "$unit did not come back"; exit 1; }; sleep 1
    done
    echo "$unit up"
done
echo "upgraded to $RELEASE (previous: $OLD)"
