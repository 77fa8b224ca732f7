#!/bin/sh
# Upgrade to a new release with the app staying up:
#     sudo sh deploy/upgrade.sh        (run from the new, unpacked release)
# 1. back up the database; 2. install the release beside the running one;
# 3. `alembic upgrade head` (migrations only add: the running processes keep working);
# 4. rebuild the aggregates; 5. switch the `current` link; 6. restart the processes
# one at a time, so nginx always has one to send browsers to.
# Going back: `ln -sfn /opt/dashboard/releases/OLD /opt/dashboard/current` and restart;
# restore the backup from step 1 if a migration must be undone.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
RELEASE=/opt/dashboard/releases/$(date +%Y%m%d%H%M%S)
[ "$(id -u)" = 0 ] || { echo "run as root (sudo)"; exit 1; }

echo "== backup"
su postgres -s /bin/sh -c "set -a; . /etc/dashboard/backup.env; set +a; sh $SRC/deploy/backup.sh"

echo "== install $RELEASE"
rsync -a --exclude .venv --exclude data --exclude '*.db' --exclude .git "$SRC/" "$RELEASE/"
python3 -m venv "$RELEASE/.venv"
"$RELEASE/.venv/bin/pip" install --quiet --upgrade pip
"$RELEASE/.venv/bin/pip" install --quiet -r "$RELEASE/requirements.txt"
chown -R dashboard:dashboard "$RELEASE"

echo "== alembic upgrade head"
su dashboard -s /bin/sh -c "set -a; . /etc/dashboard/dashboard.env; set +a; cd $RELEASE && .venv/bin/alembic upgrade head && .venv/bin/python -m dashboard aggregates"

echo "== switch and restart one process at a time"
ln -sfn "$RELEASE" /opt/dashboard/current
install -m 644 "$RELEASE"/deploy/systemd/dashboard@.service /etc/systemd/system/
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
echo "upgraded to $RELEASE"
