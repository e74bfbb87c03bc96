#!/usr/bin/env bash
# A local ClickHouse for the analytics tests, without systemd or Docker.
#
#   scripts/clickhouse.sh start    install (Debian package) if missing, start, wait until /ping answers
#   scripts/clickhouse.sh stop     stop the server this script started (by its pid file)
#   scripts/clickhouse.sh status   exit 0 when /ping answers
#
# Debian bookworm ships ClickHouse 18.16, far older than production (24.x/25.x): the analytics adapter
# must stay within what both accept (see the ClickHouse brief). The server keeps its data, logs and
# config in a directory of the project's own (CH_DIR, default .nexusflow/clickhouse, git-ignored) and
# listens on 127.0.0.1 only: HTTP CH_HTTP_PORT (8123), native CH_TCP_PORT (9000). User `default`, no
# password. Installing needs root (or sudo).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CH_DIR="${CH_DIR:-$ROOT/.nexusflow/clickhouse}"
CH_HTTP_PORT="${CH_HTTP_PORT:-8123}"
CH_TCP_PORT="${CH_TCP_PORT:-9000}"
CH_WAIT_SECONDS="${CH_WAIT_SECONDS:-60}"
PIDFILE="$CH_DIR/clickhouse.pid"
PING_URL="http://127.0.0.1:$CH_HTTP_PORT/ping"

log() { printf '[clickhouse] %s\n' "$*" >&2; }

answers() { curl -sf --max-time 2 "$PING_URL" >/dev/null 2>&1; }

server_version() { curl -s --max-time 5 "http://127.0.0.1:$CH_HTTP_PORT/?query=SELECT%20version()"; }

pid_alive() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

install_if_missing() {
  if command -v clickhouse-server >/dev/null 2>&1 && command -v curl >/dev/null 2>&1; then
    return 0
  fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { log "FAIL: clickhouse-server is not installed and installing it needs root"; return 1; }
    sudo=(sudo)
  fi
  log "installing clickhouse-server, clickhouse-client and curl from Debian"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq clickhouse-server clickhouse-client curl >/dev/null
}

write_config() {
  # The log directory MUST exist, or the daemon dies silently.
  mkdir -p "$CH_DIR/data" "$CH_DIR/log" "$CH_DIR/etc"
  cp /etc/clickhouse-server/users.xml "$CH_DIR/etc/users.xml" # user 'default', empty password
  cat >"$CH_DIR/etc/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>$CH_DIR/log/clickhouse-server.log</log>
    <errorlog>$CH_DIR/log/clickhouse-server.err.log</errorlog>
    <size>100M</size><count>2</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$CH_HTTP_PORT</http_port>
  <tcp_port>$CH_TCP_PORT</tcp_port>
  <max_concurrent_queries>100</max_concurrent_queries>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <mark_cache_size>268435456</mark_cache_size>
  <path>$CH_DIR/data/</path>
  <tmp_path>$CH_DIR/data/tmp/</tmp_path>
  <user_files_path>$CH_DIR/data/user_files/</user_files_path>
  <format_schema_path>$CH_DIR/data/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
</yandex>
EOF
}

start() {
  install_if_missing
  if answers; then
    log "already up on :$CH_HTTP_PORT (version $(server_version))"
    return 0
  fi
  if pid_alive; then
    log "pid $(cat "$PIDFILE") is running but not answering yet; waiting"
  else
    rm -f "$PIDFILE"
    write_config
    log "starting on 127.0.0.1:$CH_HTTP_PORT (data in $CH_DIR)"
    # --daemon forks and exits 0 even when the server then dies (port busy, bad path): poll /ping.
    clickhouse-server --config-file="$CH_DIR/etc/config.xml" --pid-file="$PIDFILE" --daemon
  fi
  local deadline=$((SECONDS + CH_WAIT_SECONDS))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if answers; then
      log "ready on :$CH_HTTP_PORT (version $(server_version), pid $(cat "$PIDFILE" 2>/dev/null || echo '?'))"
      return 0
    fi
    sleep 0.2
  done
  log "FAIL: ClickHouse did not answer on $PING_URL within ${CH_WAIT_SECONDS}s. Last error log lines:"
  tail -n 50 "$CH_DIR/log/clickhouse-server.err.log" >&2 2>/dev/null || true
  return 1
}

stop() {
  if [ ! -f "$PIDFILE" ]; then
    log "not started by this script (no $PIDFILE)"
    return 0
  fi
  local pid
  pid="$(cat "$PIDFILE")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PIDFILE"
      log "stopped (pid $pid)"
      return 0
    fi
    sleep 0.1
  done
  log "pid $pid did not stop within 10s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
}

status() {
  if answers; then
    echo "clickhouse: up on :$CH_HTTP_PORT (version $(server_version))"
  else
    echo "clickhouse: DOWN on :$CH_HTTP_PORT"
    return 1
  fi
}

case "${1:-}" in
  start | stop | status) "$1" ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
