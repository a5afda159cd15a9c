-- Locks held and awaited by one backend ($1 pid), awaited first.
SELECT l.locktype,
       l.mode,
       l.granted,
       l.relation::regclass::text AS relation,
       CASE l.locktype
            WHEN 'transactionid' THEN 'xid ' || l.transactionid
            WHEN 'virtualxid' THEN 'vxid ' || l.virtualxid
            WHEN 'tuple' THEN 'page ' || l.page || ' tuple ' || l.tuple
            WHEN 'page' THEN 'page ' || l.page
            WHEN 'advisory' THEN 'key ' || l.classid || ':' || l.objid || ':' || l.objsubid
            WHEN 'object' THEN l.classid::regclass::text || ' ' || l.objid
            ELSE NULL
       END AS detail
  FROM pg_locks l
 WHERE l.pid = $1
 ORDER BY l.granted, l.locktype, l.relation
