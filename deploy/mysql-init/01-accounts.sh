#!/bin/bash
# MySQL's first start (docker-entrypoint-initdb.d): the five accounts. The migrator owns the
# schema and grants the others their tables when `python -m monitoring_core.db migrate` runs.
# Every value goes into SQL through sql_string/sql_name, so a ' or \ in a password works.
set -euo pipefail

sql_string() {  # a string literal: backslashes and quotes escaped
  local value=${1//\\/\\\\}
  value=${value//\'/\\\'}
  printf "'%s'" "$value"
}
sql_name() {  # a quoted identifier
  printf '`%s`' "${1//\`/\`\`}"
}

for var in MYSQL_ROOT_PASSWORD DB_MIGRATOR_PASSWORD DB_WRITER_PASSWORD DB_READER_PASSWORD DB_SLA_PASSWORD DB_ETL_PASSWORD; do
  if [[ ${!var} == change-me* ]]; then
    echo "error: $var is still the placeholder of .env.example; set your own in .env" >&2
    exit 1
  fi
done

{
  for role in MIGRATOR WRITER READER SLA ETL; do
    user_var="DB_${role}_USER" password_var="DB_${role}_PASSWORD"
    user=$(sql_string "${!user_var}")
    echo "CREATE USER IF NOT EXISTS ${user}@'%' IDENTIFIED BY $(sql_string "${!password_var}");"
  done
  echo "GRANT ALL PRIVILEGES ON $(sql_name "$MYSQL_DATABASE").*" \
    "TO $(sql_string "$DB_MIGRATOR_USER")@'%' WITH GRANT OPTION;"
  echo "FLUSH PRIVILEGES;"
} | MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysql -uroot
