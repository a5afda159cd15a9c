#!/usr/bin/env bash
# Make sure the servers the tests talk to are up: PostgreSQL on 127.0.0.1:5432 (trust
# auth, user postgres) and Redis on 127.0.0.1:6379. Installs them from Debian's packages
# when missing and we are root; starts them when stopped. Idempotent.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

apt_ready=0
apt_install() {
  if [ "$apt_ready" = 0 ]; then as_root apt-get update -qq; apt_ready=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

if ! pg_up; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql postgresql-client
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    as_root pg_createcluster "$(ls /usr/lib/postgresql | sort -V | tail -1)" main
  fi
  version=$(ls /etc/postgresql | sort -V | tail -1)
  conf=/etc/postgresql/$version/main
  # The tests connect as postgres over TCP without a password (trust on loopback).
  if ! grep -q "ops-console-tests" "$conf/pg_hba.conf"; then
    as_root sed -i '1i # ops-console-tests\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\nlocal all all trust' "$conf/pg_hba.conf"
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 50); do pg_up && break; sleep 0.2; done
fi
pg_up || { echo "services: PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }

if ! redis_up; then
  command -v redis-server >/dev/null || apt_install redis-server redis-tools
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /tmp --logfile /tmp/ops-console-redis.log
  for _ in $(seq 50); do redis_up && break; sleep 0.2; done
fi
redis_up || { echo "services: Redis is not reachable on 127.0.0.1:6379" >&2; exit 1; }
echo "services: PostgreSQL and Redis are up"
