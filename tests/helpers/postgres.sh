#!/usr/bin/env bash
# Start (or stop) a throwaway PostgreSQL server on loopback for the test suite.
#
#   bash tests/helpers/postgres.sh start DIR   # prints `export NBTRAIL_TEST_POSTGRES_URL=...`
#   bash tests/helpers/postgres.sh stop DIR
#
# The test suite calls this itself when no NBTRAIL_TEST_POSTGRES_URL is given; run it by hand
# to keep one server for many test runs. It needs the PostgreSQL server binaries (Debian's
# postgresql package; .ci/run installs it). PostgreSQL refuses to run as root, so as root the
# server runs as the `postgres` user. Exit code 3: no PostgreSQL server binaries here.
set -euo pipefail
action=${1:?usage: postgres.sh start|stop DIR}
dir=${2:?usage: postgres.sh start|stop DIR}

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

pgbin=$(find_bin)
if [ -z "$pgbin" ] && command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then
  pgbin=$(pg_config --bindir)
fi
[ -n "$pgbin" ] || { echo "no PostgreSQL server binaries (initdb, pg_ctl) found" >&2; exit 3; }

case "$action" in
start)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_owner "$pgbin/initdb" -D "$dir/data" -U nbtrail --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  # fsync off: the tests kill clients, never the server, and the data is thrown away.
  as_owner "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >&2 \
    || { cat "$dir/server.log" >&2; exit 1; }
  echo "export NBTRAIL_TEST_POSTGRES_URL=postgresql+psycopg://nbtrail@127.0.0.1:$port/postgres"
  ;;
stop)
  [ -d "$dir/data" ] && as_owner "$pgbin/pg_ctl" -D "$dir/data" -m immediate stop >&2 || true
  ;;
*)
  echo "usage: postgres.sh start|stop DIR" >&2; exit 2 ;;
esac
