#!/bin/sh
# Run once by the postgres image, on first start with an empty data volume (mounted into
# /docker-entrypoint-initdb.d by docker-compose.yaml). One database and one owner per consumer;
# the owners' passwords come from .env through the postgres service's environment.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v airflow_password="$AIRFLOW_DB_PASSWORD" \
    -v mlflow_password="$MLFLOW_DB_PASSWORD" \
    -v ct_password="$CT_DB_PASSWORD" <<'SQL'
CREATE USER airflow WITH PASSWORD :'airflow_password';
CREATE DATABASE airflow OWNER airflow ENCODING 'UTF8';

CREATE USER mlflow WITH PASSWORD :'mlflow_password';
CREATE DATABASE mlflow OWNER mlflow ENCODING 'UTF8';

CREATE USER ct WITH PASSWORD :'ct_password';
CREATE DATABASE ct_store OWNER ct ENCODING 'UTF8';
SQL
