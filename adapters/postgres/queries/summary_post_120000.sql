-- Server-wide figures in one statement; counters are cumulative (rates come from deltas).
-- $1 (bool): measure the database size. pg_database_size() stats every file of the
-- database (nearly all of this statement's time, growing with the number of relations),
-- so the monitor asks for it only every so often and shows the last measurement between.
-- The last four columns name the oids the activity statement returns: role and database
-- oids with their names, as of this statement.
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
       CASE WHEN $1::bool THEN pg_database_size(current_database()) END AS database_size,
       now() AS taken_at,
       r.oids AS role_oids,
       r.names AS role_names,
       n.oids AS database_oids,
       n.names AS database_names
  FROM (SELECT coalesce(sum(xact_commit), 0)::int8 AS xact_commit,
               coalesce(sum(xact_rollback), 0)::int8 AS xact_rollback,
               coalesce(sum(blks_hit), 0)::int8 AS blks_hit,
               coalesce(sum(blks_read), 0)::int8 AS blks_read
          FROM pg_stat_database) d,
       (SELECT array_agg(oid) AS oids, array_agg(rolname) AS names FROM pg_roles) r,
       (SELECT array_agg(oid) AS oids, array_agg(datname) AS names FROM pg_database) n
