#!/usr/bin/env bash
# Local backing services for tests and development: PostgreSQL, Redis, RabbitMQ on 127.0.0.1.
#
#   scripts/services.sh up [postgres] [redis] [rabbitmq]      start what is down, wait until each answers
#   scripts/services.sh status [postgres] [redis] [rabbitmq]  report each (exit 1 if any is down)
#   (no service named: all three)
#
# Or `source scripts/services.sh` and call services_up / service_up NAME / service_is_up NAME.
#
# A service that is down is started with the same command the machine used to start it before the session
# (see the machine notes: Debian packages, no systemd); then we poll it for up to SERVICES_WAIT_SECONDS
# (default 60). A service that still does not answer is a failure with its log tail, never a skip.
# Starting needs the rights those commands need (root on CI machines).

SERVICES_HOST="${SERVICES_HOST:-127.0.0.1}"
SERVICES_WAIT_SECONDS="${SERVICES_WAIT_SECONDS:-60}"
SERVICES_ALL=(postgres redis rabbitmq)

_svc_log() { printf '[services] %s\n' "$*" >&2; }

# True when a TCP connection to host:port succeeds within 2 s (bash's /dev/tcp, no nc needed).
_svc_port_open() {
  timeout 2 bash -c ": </dev/tcp/$1/$2" 2>/dev/null
}

# --- checks: true when the service answers -----------------------------------------------------------

_svc_check_postgres() {
  pg_isready -q -h "$SERVICES_HOST" -p 5432 -t 3
}

_svc_check_redis() {
  [ "$(timeout 3 redis-cli -h "$SERVICES_HOST" -p 6379 ping 2>/dev/null)" = "PONG" ]
}

_svc_check_rabbitmq() {
  # The AMQP port is what clients need; the node ping (when the CLI is here) proves it is RabbitMQ and
  # that it has finished booting.
  _svc_port_open "$SERVICES_HOST" 5672 || return 1
  if command -v rabbitmq-diagnostics >/dev/null 2>&1; then
    timeout 15 rabbitmq-diagnostics -q ping >/dev/null 2>&1 || return 1
  fi
}

# --- start commands: exactly what the machine ran before the session ---------------------------------

_svc_start_postgres() {
  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
}

_svc_start_redis() {
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
}

_svc_start_rabbitmq() {
  rabbitmq-server -detached
}

# True while a RabbitMQ node is already running or booting (then we must not start a second one).
_svc_booting_rabbitmq() {
  _svc_port_open "$SERVICES_HOST" 5672 && return 0
  command -v rabbitmq-diagnostics >/dev/null 2>&1 && timeout 15 rabbitmq-diagnostics -q ping >/dev/null 2>&1
}
_svc_booting_postgres() { return 1; }
_svc_booting_redis() { return 1; }

# --- what to show when a service does not come up ----------------------------------------------------

_svc_logs() {
  local f
  case "$1" in
    postgres) for f in /var/log/postgresql/postgresql-*-main.log; do [ -f "$f" ] && tail -n 20 "$f"; done ;;
    redis) [ -f /var/log/redis/ci.log ] && tail -n 20 /var/log/redis/ci.log ;;
    rabbitmq) for f in /var/log/rabbitmq/*.log; do [ -f "$f" ] && tail -n 20 "$f"; done ;;
  esac
  return 0
}

_svc_commands() {
  case "$1" in
    postgres) echo "pg_isready pg_ctlcluster" ;;
    redis) echo "redis-cli redis-server" ;;
    rabbitmq) echo "rabbitmq-server" ;;
  esac
}

_svc_address() {
  case "$1" in
    postgres) echo "$SERVICES_HOST:5432" ;;
    redis) echo "$SERVICES_HOST:6379" ;;
    rabbitmq) echo "$SERVICES_HOST:5672" ;;
  esac
}

_svc_known() {
  case "$1" in postgres|redis|rabbitmq) return 0 ;; *) return 1 ;; esac
}

# --- public functions ---------------------------------------------------------------------------------

service_is_up() {
  _svc_known "$1" || { _svc_log "unknown service '$1' (known: ${SERVICES_ALL[*]})"; return 2; }
  "_svc_check_$1"
}

# Polls until the service answers or SERVICES_WAIT_SECONDS pass.
service_wait() {
  local name="$1" deadline=$((SECONDS + SERVICES_WAIT_SECONDS))
  while :; do
    "_svc_check_$name" && return 0
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 1
  done
}

# Ensures one service answers: nothing to do when it does, else start it and wait. Returns 1 with a
# clear message when it cannot be made to answer.
service_up() {
  local name="$1" cmd out rc
  _svc_known "$name" || { _svc_log "unknown service '$name' (known: ${SERVICES_ALL[*]})"; return 2; }
  for cmd in $(_svc_commands "$name"); do
    if ! command -v "$cmd" >/dev/null 2>&1; then
      _svc_log "FAIL: $name: '$cmd' is not installed; cannot check or start $name"
      return 1
    fi
  done
  if "_svc_check_$name"; then
    _svc_log "$name: already up at $(_svc_address "$name")"
    return 0
  fi
  if "_svc_booting_$name"; then
    _svc_log "$name: running but not answering yet at $(_svc_address "$name"); waiting up to ${SERVICES_WAIT_SECONDS}s"
  else
    _svc_log "$name: down at $(_svc_address "$name"); starting it"
    rc=0
    out="$("_svc_start_$name" 2>&1)" || rc=$?
    [ -n "$out" ] && printf '%s\n' "$out" | sed "s/^/[services]   $name: /" >&2
    # A failed start command is reported but not final: the service may already be starting. The poll decides.
    [ "$rc" -ne 0 ] && _svc_log "$name: the start command exited with status $rc"
    _svc_log "$name: waiting up to ${SERVICES_WAIT_SECONDS}s for it to answer"
  fi
  local started=$SECONDS
  if service_wait "$name"; then
    _svc_log "$name: up at $(_svc_address "$name") (answered after $((SECONDS - started))s)"
    return 0
  fi
  _svc_log "FAIL: $name did not answer at $(_svc_address "$name") within ${SERVICES_WAIT_SECONDS}s. Last log lines:"
  _svc_logs "$name" | sed "s/^/[services]   /" >&2
  return 1
}

# Ensures every named service (default: all) answers; checks them all, then fails if any did not.
services_up() {
  local name failed=()
  [ "$#" -eq 0 ] && set -- "${SERVICES_ALL[@]}"
  for name in "$@"; do
    service_up "$name" || failed+=("$name")
  done
  if [ "${#failed[@]}" -gt 0 ]; then
    _svc_log "FAIL: not available: ${failed[*]}"
    return 1
  fi
}

services_status() {
  local name rc=0
  [ "$#" -eq 0 ] && set -- "${SERVICES_ALL[@]}"
  for name in "$@"; do
    if service_is_up "$name"; then
      echo "$name: up ($(_svc_address "$name"))"
    else
      echo "$name: DOWN ($(_svc_address "$name"))"
      rc=1
    fi
  done
  return "$rc"
}

# --- run as a command (not when sourced) -------------------------------------------------------------

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  sub="${1:-}"
  [ "$#" -gt 0 ] && shift
  case "$sub" in
    up) services_up "$@" ;;
    status) services_status "$@" ;;
    *)
      echo "usage: $0 up|status [postgres] [redis] [rabbitmq]" >&2
      exit 2
      ;;
  esac
fi
