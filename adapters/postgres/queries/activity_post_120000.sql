-- Client backends except the console's own ($1 int[]), one row per backend.
-- Columns are in the order of models.Backend's fields so rows map positionally.
-- Ages use the server's clock (now() is the transaction start, equal for all rows);
-- greatest() clamps at 0 a query that started after our statement (NULL stays NULL).
-- pg_blocking_pids() takes the lock manager's partition locks: only call it for Lock waiters.
SELECT a.pid,
       a.usename::text,
       a.datname::text,
       a.application_name,
       host(a.client_addr),
       a.state,
       a.wait_event_type,
       a.wait_event,
       a.backend_start,
       a.xact_start,
       a.query_start,
       a.state_change,
       extract(epoch FROM greatest(now(), a.xact_start) - a.xact_start)::float8,
       extract(epoch FROM greatest(now(), a.query_start) - a.query_start)::float8,
       a.query,
       CASE WHEN a.wait_event_type = 'Lock' THEN pg_blocking_pids(a.pid) END,
       CASE WHEN a.wait_event_type = 'Lock'
            THEN extract(epoch FROM greatest(now(), a.state_change) - a.state_change)::float8 END
  FROM pg_stat_activity a
 WHERE a.backend_type = 'client backend'
   AND a.pid <> ALL ($1::int[])
