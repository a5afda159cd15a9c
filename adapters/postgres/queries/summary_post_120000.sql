-- Server-wide figures in one statement; counters are cumulative (rates come from deltas).
SELECT split_part(current_setting('server_version'), ' ', 1) AS version,
       current_setting('server_version_num')::int AS server_version_num,
       pg_postmaster_start_time() AS started_at,
       extract(epoch FROM now() - pg_postmaster_start_time())::float8 AS uptime,
       current_setting('max_connections')::int AS max_connections,
       d.xact_commit,
       d.xact_rollback,
       d.blks_hit,
       d.blks_read,
       current_database()::text AS database,
       pg_database_size(current_database()) AS database_size,
       now() AS taken_at
  FROM (SELECT coalesce(sum(xact_commit), 0)::int8 AS xact_commit,
               coalesce(sum(xact_rollback), 0)::int8 AS xact_rollback,
               coalesce(sum(blks_hit), 0)::int8 AS blks_hit,
               coalesce(sum(blks_read), 0)::int8 AS blks_read
          FROM pg_stat_database) d
