-- The lock each Lock waiter ($1 int[]) is waiting for. A backend awaits at most one lock.
-- waitstart (PostgreSQL 14+) is when the wait began, more exact than state_change; the
-- monitor turns it into an age against the snapshot's now(), like every other age.
SELECT l.pid,
       l.locktype,
       l.mode,
       l.relation::regclass::text AS relation,
       l.waitstart
  FROM pg_locks l
 WHERE NOT l.granted
   AND l.pid = ANY ($1::int[])
