#!/usr/bin/env bash
# Make sure the OpenSSH client and server binaries exist, for the tests of ssh:// Docker
# hosts (tests/test_docker_remote_hosts.py). Installs them from Debian's packages when
# missing (root). Starts no server: each test run starts its own throwaway sshd on a free
# loopback port with its own config, host key and client key, and never reads or writes
# ~/.ssh. Idempotent.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

if ! command -v ssh >/dev/null || ! command -v ssh-keygen >/dev/null || ! [ -x /usr/sbin/sshd ]; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
    openssh-client openssh-server >/dev/null
fi
# sshd refuses to start without its privilege separation directory (/run is a tmpfs,
# and no init script ran here to make it).
as_root install -d -m 0755 /run/sshd

echo "ssh: $(ssh -V 2>&1), sshd at /usr/sbin/sshd"
