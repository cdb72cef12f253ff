"""Prometheus metrics of the service: read from the store, and Airflow's own, relayed."""
