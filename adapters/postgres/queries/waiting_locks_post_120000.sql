-- The lock each Lock waiter ($1 int[]) is waiting for. A backend awaits at most one lock.
-- Before PostgreSQL 14 there is no waitstart: the wait age comes from state_change instead.
SELECT l.pid,
       l.locktype,
       l.mode,
       l.relation::regclass::text AS relation,
       NULL::float8 AS wait_age
  FROM pg_locks l
 WHERE NOT l.granted
   AND l.pid = ANY ($1::int[])
