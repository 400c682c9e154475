#!/bin/bash
# MySQL's first start (docker-entrypoint-initdb.d): the four accounts. The migrator owns the
# schema and grants the others their tables when `python -m monitoring_core.db migrate` runs.
set -euo pipefail
mysql -uroot -p"${MYSQL_ROOT_PASSWORD}" <<SQL
CREATE USER IF NOT EXISTS '${DB_MIGRATOR_USER}'@'%' IDENTIFIED BY '${DB_MIGRATOR_PASSWORD}';
CREATE USER IF NOT EXISTS '${DB_WRITER_USER}'@'%' IDENTIFIED BY '${DB_WRITER_PASSWORD}';
CREATE USER IF NOT EXISTS '${DB_READER_USER}'@'%' IDENTIFIED BY '${DB_READER_PASSWORD}';
CREATE USER IF NOT EXISTS '${DB_SLA_USER}'@'%' IDENTIFIED BY '${DB_SLA_PASSWORD}';
GRANT ALL PRIVILEGES ON \`${MYSQL_DATABASE}\`.* TO '${DB_MIGRATOR_USER}'@'%' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
