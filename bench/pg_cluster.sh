#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for bench/pg_bench.py.
#
#   bash bench/pg_cluster.sh            # create (once) and start; (re)create roles + extension
#   bash bench/pg_cluster.sh stop       # fast shutdown
#   bash bench/pg_cluster.sh status
#   bash bench/pg_cluster.sh destroy    # stop and delete the data directory
#
# Uses the installed server binaries (/usr/lib/postgresql/*/bin), never touches the
# machine's own cluster on 5432.  Data and socket live in $OPS_BENCH_PGDIR
# (default /tmp/ops-bench-pg), port $OPS_BENCH_PGPORT (default 55432), 127.0.0.1 only,
# trust auth (throwaway, loopback only).
#
# Roles (none is a superuser; the runner itself does its admin work as `postgres`):
#   bench_opsconsole, bench_pgactivity
#       LOGIN + pg_read_all_stats + pg_signal_backend: what an on-call role needs to see
#       every session's query text / wait state and to cancel or terminate non-superuser
#       backends.  Deliberately NOT full pg_monitor: pg_monitor adds pg_read_all_settings,
#       which lets pg_activity read data_directory and — because the bench runs as root on
#       the server's own host — switch to its "local" mode that psutil-samples every one of
#       the ~1,100 backends each refresh.  Against a production server reached over the
#       network it never does that, so that mode would inflate the reference.  Not
#       superuser for the same reason, and because a triage console must work without it.
#   bench_load
#       LOGIN + pg_read_all_stats (so the bare `SELECT * FROM pg_stat_activity` baseline,
#       run as this role, sees the same rows and query texts the tools see) + UPDATE on
#       the lock-chain table public.bench_lock.
set -euo pipefail

DIR=${OPS_BENCH_PGDIR:-/tmp/ops-bench-pg}
PORT=${OPS_BENCH_PGPORT:-55432}
DATA=$DIR/data
LOG=$DIR/server.log
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [[ -z "$BIN" || ! -x "$BIN/initdb" ]]; then
    echo "pg_cluster.sh: no PostgreSQL server binaries under /usr/lib/postgresql/*/bin" >&2
    echo "  (Debian: apt-get install postgresql postgresql-contrib)" >&2
    exit 1
fi

# initdb and the server refuse to run as root: run them as `postgres` (or as the caller
# when not root).
RUNAS=${OPS_BENCH_PGUSER_OS:-postgres}
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u "$RUNAS" -- "$@"
    else
        "$@"
    fi
}

pg_running() {
    [[ -f "$DATA/PG_VERSION" ]] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

psql_admin() {
    "$BIN/psql" -X -q -h "$DIR" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"
}

write_conf() {
    # Rewritten every time; pulled in by one include line appended to postgresql.conf.
    local tmp
    tmp=$(mktemp)
    cat >"$tmp" <<EOF
# Written by bench/pg_cluster.sh — throwaway benchmark cluster.
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR'
max_connections = 1300
superuser_reserved_connections = 3
shared_buffers = 128MB
shared_preload_libraries = 'pg_stat_statements'
compute_query_id = on
pg_stat_statements.track = all
pg_stat_statements.track_utility = on
pg_stat_statements.max = 10000
track_activity_query_size = 1024
jit = off
fsync = off
synchronous_commit = off
full_page_writes = off
huge_pages = off
statement_timeout = 0
lock_timeout = 0
idle_in_transaction_session_timeout = 0
logging_collector = off
log_min_messages = warning
log_connections = off
log_disconnections = off
EOF
    if ! cmp -s "$tmp" "$DATA/ops-bench.conf" 2>/dev/null; then
        install -o "$(stat -c %U "$DATA")" -m 0600 "$tmp" "$DATA/ops-bench.conf"
        CONF_CHANGED=1
    fi
    rm -f "$tmp"
    grep -q "^include_if_exists = 'ops-bench.conf'" "$DATA/postgresql.conf" ||
        as_owner sh -c "echo \"include_if_exists = 'ops-bench.conf'\" >> '$DATA/postgresql.conf'"
    cat >"$tmp" <<'EOF'
# Written by bench/pg_cluster.sh: trust on the socket and loopback only.
local   all             all                                     trust
host    all             all             127.0.0.1/32            trust
EOF
    if ! cmp -s "$tmp" "$DATA/pg_hba.conf"; then
        install -o "$(stat -c %U "$DATA")" -m 0600 "$tmp" "$DATA/pg_hba.conf"
        CONF_CHANGED=1
    fi
    rm -f "$tmp"
}

cmd_start() {
    CONF_CHANGED=0
    mkdir -p "$DIR"
    [[ $(id -u) -eq 0 ]] && chown "$RUNAS" "$DIR"
    chmod 0755 "$DIR"
    if [[ ! -f "$DATA/PG_VERSION" ]]; then
        echo "pg_cluster.sh: initdb $DATA ($($BIN/postgres --version))"
        as_owner "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
            --no-sync >"$DIR/initdb.log" 2>&1 ||
            { cat "$DIR/initdb.log" >&2; exit 1; }
    fi
    write_conf
    if pg_running && [[ $CONF_CHANGED -eq 1 ]]; then
        echo "pg_cluster.sh: configuration changed, restarting the bench cluster"
        as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
    fi
    if ! pg_running; then
        if (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then
            echo "pg_cluster.sh: port $PORT is already taken by something else" >&2
            exit 1
        fi
        as_owner touch "$LOG" 2>/dev/null || true
        as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null ||
            { tail -n 30 "$LOG" >&2; exit 1; }
    fi
    psql_admin <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['bench_opsconsole', 'bench_pgactivity', 'bench_load'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER', r);
        END IF;
        EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', r);
        EXECUTE format('GRANT pg_read_all_stats TO %I', r);
    END LOOP;
END $$;
GRANT pg_signal_backend TO bench_opsconsole, bench_pgactivity;
CREATE TABLE IF NOT EXISTS public.bench_lock (id int PRIMARY KEY, v int NOT NULL DEFAULT 0);
INSERT INTO public.bench_lock (id) SELECT g FROM generate_series(1, 100) g ON CONFLICT DO NOTHING;
GRANT SELECT, UPDATE ON public.bench_lock TO bench_load;
SQL
    echo "pg_cluster.sh: running on 127.0.0.1:$PORT (data $DATA, log $LOG," \
        "max_connections=$(psql_admin -At -c 'SHOW max_connections'))"
}

cmd_stop() {
    if pg_running; then
        as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
        echo "pg_cluster.sh: stopped"
    else
        echo "pg_cluster.sh: not running"
    fi
}

case "${1:-start}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status)
        if pg_running; then echo "running on 127.0.0.1:$PORT ($DATA)"; else echo "not running"; exit 3; fi ;;
    destroy)
        cmd_stop
        case "$DIR" in /tmp/*) rm -rf "$DIR"; echo "pg_cluster.sh: removed $DIR" ;;
            *) echo "pg_cluster.sh: refusing to delete $DIR (not under /tmp)" >&2; exit 1 ;; esac ;;
    *) echo "usage: $0 [start|stop|status|destroy]" >&2; exit 2 ;;
esac
