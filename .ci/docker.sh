#!/usr/bin/env bash
# Make sure a Docker engine answers on the local socket, and that the test images exist.
# Installs docker.io and busybox-static from Debian's packages when missing (root), starts
# dockerd when it is not running, and builds the images from a busybox root filesystem
# (no registry is reachable): opsc-test/base:1, opsc-test/app:1 (healthy) and
# opsc-test/app:2 (its health check always fails). Idempotent.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
engine_up() { docker info >/dev/null 2>&1; }

if ! command -v dockerd >/dev/null || ! command -v busybox >/dev/null || ! command -v docker >/dev/null; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq docker.io busybox-static >/dev/null
fi

if ! engine_up; then
  # No systemd here: run the daemon in the background, logging to a file.
  as_root sh -c 'nohup dockerd --host unix:///var/run/docker.sock >/tmp/ops-console-dockerd.log 2>&1 &'
  for _ in $(seq 150); do engine_up && break; sleep 0.2; done
fi
engine_up || { echo "docker: the engine did not start (see /tmp/ops-console-dockerd.log)" >&2; exit 1; }

if ! docker image inspect opsc-test/base:1 >/dev/null 2>&1; then
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/etc"
  cp "$(command -v busybox)" "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  echo "root:x:0:0:root:/:/bin/sh" > "$root/etc/passwd"
  tar -C "$root" -c . | docker import --change 'CMD ["/bin/sh"]' - opsc-test/base:1 >/dev/null
  rm -rf "$root"
fi

build() {  # build TAG DOCKERFILE-TEXT
  if ! docker image inspect "$1" >/dev/null 2>&1; then
    dir=$(mktemp -d)
    printf '%s\n' "$2" > "$dir/Dockerfile"
    DOCKER_BUILDKIT=0 docker build -q -t "$1" "$dir" >/dev/null 2>"$dir/err" \
      || { cat "$dir/err" >&2; exit 1; }
    rm -rf "$dir"
  fi
}

build opsc-test/app:1 'FROM opsc-test/base:1
LABEL opsc-test.version=1
HEALTHCHECK --interval=1s --timeout=1s --retries=2 --start-period=1s CMD ["/bin/true"]
CMD ["/bin/sh", "-c", "echo app v1 started; trap \"exit 0\" TERM; while true; do sleep 1; done"]'
sleep 1  # distinct creation times: rollback picks the previous image by creation time
build opsc-test/app:2 'FROM opsc-test/base:1
LABEL opsc-test.version=2
HEALTHCHECK --interval=1s --timeout=1s --retries=2 --start-period=1s CMD ["/bin/false"]
CMD ["/bin/sh", "-c", "echo app v2 started; trap \"exit 0\" TERM; while true; do sleep 1; done"]'

echo "docker: engine up ($(docker version --format '{{.Server.Version}}')), test images ready"
