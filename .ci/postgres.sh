# Source this file to start a throwaway PostgreSQL server on 127.0.0.1.
# It exports WEBCHAT_WRAPUP_POSTGRES_DSN and stops the server on exit.
# Installs the server with apt if initdb is missing.

pg_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

if [ -z "$(pg_bin)" ] || [ ! -x "$(pg_bin)/initdb" ]; then
    echo "== installing PostgreSQL"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
PG_BIN="$(pg_bin)"
PG_DIR="$(mktemp -d /tmp/webchat-wrapup-pg.XXXXXX)"
chown postgres "$PG_DIR"
PG_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

as_postgres() {
    if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

as_postgres "$PG_BIN/initdb" -D "$PG_DIR/data" --auth=trust --no-sync -U postgres >/dev/null
as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=on -c max_connections=100" \
    start >/dev/null

stop_postgres() {
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
}
trap stop_postgres EXIT

as_postgres "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres webchat_wrapup
export WEBCHAT_WRAPUP_POSTGRES_DSN="host=127.0.0.1 port=$PG_PORT user=postgres dbname=webchat_wrapup"
echo "== PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT"
