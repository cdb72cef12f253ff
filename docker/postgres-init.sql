-- Run once by the postgres image, on first start with an empty data volume
-- (mounted into /docker-entrypoint-initdb.d by docker-compose.yaml).
-- One database and one owner per consumer; credentials match docker-compose.yaml.
-- These are local-development passwords: change them (here and in compose) for anything shared.

CREATE USER airflow WITH PASSWORD 'airflow';
CREATE DATABASE airflow OWNER airflow ENCODING 'UTF8';

CREATE USER mlflow WITH PASSWORD 'mlflow';
CREATE DATABASE mlflow OWNER mlflow ENCODING 'UTF8';

CREATE USER ct WITH PASSWORD 'ct';
CREATE DATABASE ct_store OWNER ct ENCODING 'UTF8';
