# syntax=docker/dockerfile:1
# Image for every service of the stack (Airflow 3 components and the MLflow server).
#
# The base image's Airflow version must equal the apache-airflow pin in uv.lock
# (tests/unit/test_compose.py checks it). Build with `docker compose build`.
FROM apache/airflow:3.3.2-python3.12

# uv only turns the lock file into a requirements list; pip (the image's own installer) installs it.
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv

USER root
# /opt/ct/app mirrors the repository layout; /opt/ct/home is CT_HOME and /opt/ct/mlflow-auth
# MLflow's user database (named volumes in compose, which inherit this ownership on first use). Group 0 + g+rwX lets any AIRFLOW_UID write.
RUN mkdir -p /opt/ct/app /opt/ct/home /opt/ct/mlflow-auth \
    && chown -R airflow:0 /opt/ct \
    && chmod -R g+rwX /opt/ct
USER airflow
WORKDIR /opt/ct/app

# 1. Locked third-party dependencies (cached as long as pyproject.toml/uv.lock don't change).
#    Naming apache-airflow==${AIRFLOW_VERSION} (set by the base image) keeps pip from moving the
#    Airflow that the image ships, as the Airflow image docs recommend.
COPY --chown=airflow:0 pyproject.toml uv.lock ./
RUN uv export --frozen --no-dev --no-emit-project --no-hashes -o /tmp/requirements.txt \
    && pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# 2. The project itself. Installed editable (still --no-deps) on purpose: mlops_lib finds sql/ and
#    pipelines/ from the repository root (mlops_lib/settings.py's REPO_ROOT), which holds in
#    /opt/ct/app but not in site-packages. mlops_dev holds the `mlops` entry point.
COPY --chown=airflow:0 README.md ./
COPY --chown=airflow:0 mlops_lib ./mlops_lib
COPY --chown=airflow:0 mlops_dev ./mlops_dev
COPY --chown=airflow:0 sql ./sql
COPY --chown=airflow:0 pipelines ./pipelines
COPY --chown=airflow:0 plugins ./plugins
COPY --chown=airflow:0 dags ./dags
RUN pip install --no-cache-dir --no-deps -e .

ENV CT_HOME=/opt/ct/home \
    CT_PIPELINES_DIR=/opt/ct/app/pipelines \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/ct/app/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/ct/app/plugins
