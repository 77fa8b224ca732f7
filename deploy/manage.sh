#!/bin/sh
# Run a command of the installed release as the dashboard user, with the settings every
# process reads (/etc/dashboard/dashboard.env), from /opt/dashboard/current:
#     sudo sh /opt/dashboard/current/deploy/manage.sh python -m dashboard summary
#     sudo sh /opt/dashboard/current/deploy/manage.sh python -m dashboard users add admin --role admin
#     sudo sh /opt/dashboard/current/deploy/manage.sh python -m loaders import /tmp/ledger.xlsx
#     sudo sh /opt/dashboard/current/deploy/manage.sh alembic current
# The first word is a program of the release's virtualenv (python, alembic).
# The literal argument DATABASE_URL is replaced by the URL from dashboard.env.
# Files given to it must be readable by the dashboard user (e.g. copy them to /tmp first).
set -eu
[ "$(id -u)" = 0 ] || { echo "run as root (sudo)"; exit 1; }
[ $# -ge 1 ] || { sed -n '2,10p' "$0"; exit 2; }
APP=${APP:-/opt/dashboard/current}
exec runuser -u dashboard -- sh -c '
    set -eu
    set -a; . /etc/dashboard/dashboard.env; set +a
    cd "$0"
    prog=$1; shift
    for a in "$@"; do
        shift
        if [ "$a" = DATABASE_URL ]; then set -- "$@" "$DATABASE_URL"; else set -- "$@" "$a"; fi
    done
    exec ".venv/bin/$prog" "$@"' "$APP" "$@"
