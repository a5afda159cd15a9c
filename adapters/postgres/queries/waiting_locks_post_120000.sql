-- The lock each Lock waiter ($1 int[]) is waiting for. A backend awaits at most one lock.
-- Before PostgreSQL 14 there is no waitstart: the monitor ages the wait from state_change.
SELECT l.pid,
       l.locktype,
       l.mode,
       l.relation::regclass::text AS relation,
       NULL::timestamptz AS waitstart
  FROM pg_locks l
 WHERE NOT l.granted
   AND l.pid = ANY ($1::int[])
