#!/bin/bash
# Stand-in for mysql:8.0's entrypoint, on MariaDB. On the first start only (no
# /var/lib/mysql/mysql yet): initialise the data directory, start a temporary server without
# networking, set the root password for MYSQL_ROOT_HOST (upstream default '%'), create
# MYSQL_DATABASE, run /docker-entrypoint-initdb.d (*.sh executed, or sourced when not
# executable; *.sql fed to the client), stop the temporary server. Then run the command.
set -euo pipefail
shopt -s nullglob
log() { printf '%s [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$*"; }

# A SQL string literal: backslashes and quotes escaped, as upstream's
# docker_sql_escape_string_literal does.
sql_string() {
  local value=${1//\\/\\\\}
  value=${value//\'/\\\'}
  printf "'%s'" "$value"
}

if [ "${1:0:1}" = '-' ]; then
  set -- mysqld "$@"
fi

if [ "$1" = mysqld ] && [ ! -d /var/lib/mysql/mysql ]; then
  if [ -z "${MYSQL_ROOT_PASSWORD:-}" ]; then
    log "error: database is uninitialized and MYSQL_ROOT_PASSWORD is not set" >&2
    exit 1
  fi
  log "initialising the data directory"
  mariadb-install-db --datadir=/var/lib/mysql --skip-test-db \
    --auth-root-authentication-method=normal >/dev/null
  "$@" --skip-networking --socket=/run/mysqld/mysqld.sock &
  temporary=$!
  for _ in $(seq 60); do
    mysqladmin --socket=/run/mysqld/mysqld.sock -uroot ping --silent 2>/dev/null && break
    sleep 1
  done
  root_host=${MYSQL_ROOT_HOST:-%}
  password=$(sql_string "$MYSQL_ROOT_PASSWORD")
  {
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $password;"
    if [ "$root_host" != localhost ]; then
      echo "CREATE USER 'root'@$(sql_string "$root_host") IDENTIFIED BY $password;"
      echo "GRANT ALL ON *.* TO 'root'@$(sql_string "$root_host") WITH GRANT OPTION;"
    fi
    if [ -n "${MYSQL_DATABASE:-}" ]; then
      echo "CREATE DATABASE IF NOT EXISTS \`${MYSQL_DATABASE//\`/\`\`}\`;"
    fi
    echo "FLUSH PRIVILEGES;"
  } | mysql --socket=/run/mysqld/mysqld.sock -uroot
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh)
        log "running $f"
        if [ -x "$f" ]; then "$f"; else . "$f"; fi
        ;;
      *.sql)
        log "running $f"
        mysql --socket=/run/mysqld/mysqld.sock -uroot -p"$MYSQL_ROOT_PASSWORD" \
          "${MYSQL_DATABASE:-}" <"$f"
        ;;
      *) log "ignoring $f" ;;
    esac
  done
  kill "$temporary"
  wait "$temporary" || true
  log "init process done"
fi

exec "$@"
