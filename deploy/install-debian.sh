#!/bin/sh
# County deployment on one Debian 12 server: PostgreSQL, N Streamlit processes, nginx.
# Run as root from an unpacked release (the directory holding app.py):
#     sudo sh deploy/install-debian.sh            # 3 processes on ports 8501-8503
#     sudo INSTANCES=4 sh deploy/install-debian.sh
# Safe to run again: existing users, databases, passwords and settings are kept.
set -eu

INSTANCES=${INSTANCES:-3}
FIRST_PORT=${FIRST_PORT:-8501}
DB_NAME=${DB_NAME:-dashboard}
DB_USER=${DB_USER:-dashboard}
SRC=$(cd "$(dirname "$0")/.." && pwd)
RELEASE=/opt/dashboard/releases/$(date +%Y%m%d%H%M%S)
# Debian's own Python (installed below). Not "python3" from PATH: root's PATH may lead to a
# pyenv/conda Python under /root, and a virtualenv built on it cannot run as the dashboard user.
PYTHON=/usr/bin/python3
# systemd runs the processes; without it (a container) the units are installed, not started.
have_systemd() { [ -d /run/systemd/system ]; }

[ "$(id -u)" = 0 ] || { echo "run as root (sudo)"; exit 1; }
[ -f "$SRC/app.py" ] || { echo "run from an unpacked release (app.py not found in $SRC)"; exit 1; }

echo "== 1/7 packages"
apt-get update
apt-get install -y python3 python3-venv python3-dev build-essential \
    postgresql postgresql-contrib nginx chromium fonts-noto-cjk rsync curl ca-certificates
# PostGIS is used when present and never required:  apt-get install -y postgresql-15-postgis-3

echo "== 2/7 service account and directories"
id dashboard >/dev/null 2>&1 || adduser --system --group --home /opt/dashboard --shell /usr/sbin/nologin dashboard
install -d -o dashboard -g dashboard -m 755 /opt/dashboard /opt/dashboard/releases
install -d -o root -g dashboard -m 750 /etc/dashboard
install -d -o postgres -g postgres -m 750 /var/backups/dashboard

echo "== 3/7 PostgreSQL role and database"
if [ ! -f /etc/dashboard/db-password ]; then
    head -c 24 /dev/urandom | base64 | tr -d '/+=' > /etc/dashboard/db-password
    chmod 640 /etc/dashboard/db-password; chgrp dashboard /etc/dashboard/db-password
fi
PW=$(cat /etc/dashboard/db-password)
su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='$DB_USER'\"" | grep -q 1 || \
    su postgres -c "psql -c \"CREATE ROLE $DB_USER LOGIN PASSWORD '$PW'\""
su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='$DB_NAME'\"" | grep -q 1 || \
    su postgres -c "createdb -O $DB_USER -E UTF8 -T template0 $DB_NAME"

echo "== 4/7 settings (/etc/dashboard/dashboard.env)"
if [ ! -f /etc/dashboard/dashboard.env ]; then
    SECRET=$(head -c 32 /dev/urandom | base64 | tr -d '/+=')
    cat > /etc/dashboard/dashboard.env <<ENV
# Read by every dashboard@PORT process and by the maintenance commands below.
DATABASE_URL=postgresql+psycopg://$DB_USER:$PW@127.0.0.1:5432/$DB_NAME
DASHBOARD_LANG=zh
DASHBOARD_AUTH=on
DASHBOARD_CHROMIUM=/usr/bin/chromium
# the same secret in every process, so cookies stay valid whichever process answers
STREAMLIT_SERVER_COOKIE_SECRET=$SECRET
ENV
    chmod 640 /etc/dashboard/dashboard.env; chgrp dashboard /etc/dashboard/dashboard.env
fi
if [ ! -f /etc/dashboard/backup.env ]; then
    cat > /etc/dashboard/backup.env <<ENV
DB_NAME=$DB_NAME
BACKUP_DIR=/var/backups/dashboard
KEEP_DAYS=14
ENV
fi

echo "== 5/7 release $RELEASE"
# leading "/": only the top-level data/ (the township's SQLite file), not tests/data
rsync -a --exclude /.venv --exclude /data --exclude /.git --exclude '*.db' "$SRC/" "$RELEASE/"
"$PYTHON" -m venv "$RELEASE/.venv"
"$RELEASE/.venv/bin/pip" install --quiet --upgrade pip
"$RELEASE/.venv/bin/pip" install --quiet -r "$RELEASE/requirements.txt"
chown -R dashboard:dashboard "$RELEASE"
ln -sfn "$RELEASE" /opt/dashboard/current

echo "== 6/7 schema (alembic upgrade head) and aggregates"
# PostGIS, when installed, is an extension only a superuser may create; the migrations run as
# the dashboard role, so create it here as postgres (DASHBOARD_POSTGIS=off in dashboard.env: never)
if ! grep -qiE '^DASHBOARD_POSTGIS=(off|0|false|no)[[:space:]]*$' /etc/dashboard/dashboard.env && \
   su postgres -c "psql -tAc \"SELECT 1 FROM pg_available_extensions WHERE name='postgis'\"" | grep -q 1; then
    su postgres -c "PGOPTIONS='-c client_min_messages=warning' psql -q -d $DB_NAME -c 'CREATE EXTENSION IF NOT EXISTS postgis'"
    echo "PostGIS extension present in $DB_NAME"
fi
run_as_app() { su dashboard -s /bin/sh -c "set -a; . /etc/dashboard/dashboard.env; set +a; cd /opt/dashboard/current && $*"; }
run_as_app ".venv/bin/alembic upgrade head"
run_as_app ".venv/bin/python -m dashboard aggregates"

echo "== 7/7 systemd units and nginx"
install -m 644 "$RELEASE/deploy/systemd/dashboard@.service" "$RELEASE/deploy/systemd/dashboard.target" \
    "$RELEASE/deploy/systemd/dashboard-backup.service" "$RELEASE/deploy/systemd/dashboard-backup.timer" \
    /etc/systemd/system/
chmod 755 "$RELEASE"/deploy/*.sh
UPSTREAMS=""
PORTS=""
i=0
while [ "$i" -lt "$INSTANCES" ]; do
    PORT=$((FIRST_PORT + i))
    PORTS="$PORTS $PORT"
    UPSTREAMS="$UPSTREAMS    server 127.0.0.1:$PORT max_fails=3 fail_timeout=10s;\n"
    i=$((i + 1))
done
if have_systemd; then
    systemctl daemon-reload
    for PORT in $PORTS; do
        systemctl enable --now "dashboard@$PORT"
    done
    systemctl enable dashboard.target dashboard-backup.timer
    systemctl start dashboard-backup.timer
    for PORT in $PORTS; do
        n=0
        until curl -fsS "http://127.0.0.1:$PORT/_stcore/health" >/dev/null 2>&1; do
            n=$((n + 1))
            [ "$n" -lt 90 ] || { echo "dashboard@$PORT does not answer; see: journalctl -u dashboard@$PORT"; exit 1; }
            sleep 1
        done
        echo "dashboard@$PORT up"
    done
else
    # the command line systemd would run (ExecStart of dashboard@.service, %i = the port)
    CMD=$(sed -n '/^ExecStart=/,/[^\\]$/p' /etc/systemd/system/dashboard@.service \
          | sed 's/^ExecStart=//; s/\\$//' | tr -s ' \n' '  ')
    echo "!! systemd is not running here (a container?): the units are installed in /etc/systemd/system"
    echo "!! but NOT started, and no backup timer runs. Start each process yourself, as user dashboard:"
    for PORT in $PORTS; do
        echo "!!   runuser -u dashboard -- sh -c 'set -a; . /etc/dashboard/dashboard.env; set +a; cd /opt/dashboard/current && exec $(echo "$CMD" | sed "s/%i/$PORT/g")'"
    done
    echo "!! and run deploy/backup.sh as postgres every night (what dashboard-backup.timer does)."
fi
# the upstream block lists exactly the processes started above
awk -v ups="$UPSTREAMS" '
    /^upstream dashboard/ { print; inblock = 1; next }
    inblock && /server 127\.0\.0\.1/ { next }
    inblock && /keepalive/ { printf "%s", ups; print; inblock = 0; next }
    { print }' "$RELEASE/deploy/nginx/dashboard.conf" | sed 's/\\n/\n/g' > /etc/nginx/sites-available/dashboard.conf
ln -sfn /etc/nginx/sites-available/dashboard.conf /etc/nginx/sites-enabled/dashboard.conf
rm -f /etc/nginx/sites-enabled/default
nginx -t
if have_systemd; then
    systemctl enable nginx
    systemctl reload-or-restart nginx
elif [ -s /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
    nginx -s reload
else
    nginx    # no systemd: start it directly (it daemonizes)
fi

echo
echo "Done. $INSTANCES processes behind nginx on port 80. Next (docs/DEPLOY.md, steps 3 and 4):"
echo "  1. a township's SQLite file, before anything else is written:"
echo "       sh /opt/dashboard/current/deploy/manage.sh python -m dashboard copy --from sqlite:////path/dashboard.db --to DATABASE_URL"
echo "  2. first administrator:  sh /opt/dashboard/current/deploy/manage.sh python -m dashboard users add admin --role admin"
echo "  3. open http://$(hostname -I | awk '{print $1}')/ and log in"
