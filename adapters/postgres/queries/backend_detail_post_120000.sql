-- One backend ($1 pid) of any type, for the detail view: the Backend columns in field
-- order, then the extra detail columns.
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
       pg_blocking_pids(a.pid) AS blocked_by,
       CASE WHEN a.wait_event_type = 'Lock'
            THEN extract(epoch FROM greatest(now(), a.state_change) - a.state_change)::float8 END AS wait_age,
       a.backend_type,
       a.client_hostname,
       a.client_port,
       a.backend_xid::text,
       a.backend_xmin::text
  FROM pg_stat_activity a
 WHERE a.pid = $1
