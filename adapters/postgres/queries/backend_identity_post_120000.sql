-- What identifies a backend across time ($1 pid): pids are reused, backend_start is not.
-- state tells the recheck of a cancel whether there is still a query to cancel.
SELECT a.pid, a.backend_start, a.query_start, a.state
  FROM pg_stat_activity a
 WHERE a.pid = $1
