-- Client backends except the console's own ($1 int[]), one row per backend: the fields of
-- models.Backend in order, except that
--  * user and database come as oids (usesysid, datid): the monitor names them with the
--    maps the summary statement returns. pg_stat_activity gets the names by joining
--    pg_authid and pg_database for every row, which cost a fifth of this statement;
--  * the ages are left out: the monitor computes them from these timestamps and the
--    snapshot's now() (server clock). extract(epoch FROM interval) is numeric since
--    PostgreSQL 14 and cost more per row than everything else here.
-- No join, so the WHERE is evaluated in the function scan.
-- pg_blocking_pids() takes the lock manager's partition locks: only call it for Lock waiters.
SELECT s.pid,
       s.usesysid,
       s.datid,
       s.application_name,
       host(s.client_addr),
       s.state,
       s.wait_event_type,
       s.wait_event,
       s.backend_start,
       s.xact_start,
       s.query_start,
       s.state_change,
       s.query,
       CASE WHEN s.wait_event_type = 'Lock' THEN pg_blocking_pids(s.pid) END
  FROM pg_stat_get_activity(NULL) s
 WHERE s.backend_type = 'client backend'
   AND s.pid <> ALL ($1::int[])
