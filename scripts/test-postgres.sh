#!/usr/bin/env bash
# Install (from Debian's packages) and start a PostgreSQL server on 127.0.0.1 for the tests,
# with a role (allowed to create databases) and a database for them. Prints the SQLAlchemy URL to use on its last line.
# Used by .ci/run; safe to run again (it only does what is missing).
set -euo pipefail

PORT="${BOUSSOLE_PG_PORT:-5432}"
USER_NAME=boussole
PASSWORD=boussole
DB=boussole_test

if ! command -v pg_lsclusters >/dev/null || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
    echo "installing PostgreSQL from Debian's packages…" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
fi

VERSION="$(ls /usr/lib/postgresql | sort -V | tail -1)"
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$VERSION main$"; then
    pg_createcluster "$VERSION" main --port "$PORT" >&2
fi
if ! pg_lsclusters -h | grep -q "^$VERSION *main .*online"; then
    pg_ctlcluster "$VERSION" main start -o "-c listen_addresses=127.0.0.1 -p $PORT" >&2
fi
for _ in $(seq 1 30); do
    pg_isready -h 127.0.0.1 -p "$PORT" -q && break
    sleep 0.5
done
pg_isready -h 127.0.0.1 -p "$PORT" >&2

psql_admin() { su postgres -c "psql -p $PORT -v ON_ERROR_STOP=1 -qtAc \"$1\""; }
if [ "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname='$USER_NAME'")" != "1" ]; then
    psql_admin "CREATE ROLE $USER_NAME LOGIN PASSWORD '$PASSWORD'" >&2
fi
# CREATEDB: under `pytest -n auto` the test setup creates one database per worker
# (boussole_test_gw0, boussole_test_gw1…) next to this one
psql_admin "ALTER ROLE $USER_NAME CREATEDB" >&2
if [ "$(psql_admin "SELECT 1 FROM pg_database WHERE datname='$DB'")" != "1" ]; then
    psql_admin "CREATE DATABASE $DB OWNER $USER_NAME" >&2
fi
echo "postgresql+asyncpg://$USER_NAME:$PASSWORD@127.0.0.1:$PORT/$DB"
