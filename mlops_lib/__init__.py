"""Continuous training for tabular XGBoost models: plain, typed Python with no Airflow import."""
