"""Airflow adapters for the continuous-training service: hooks, triggers, sensors, tasks.

Everything here is a thin layer over `mlops_lib`, which holds the logic and never imports
Airflow. The package lives in `plugins/` (on the triggerer's sys.path), never in `dags/`.
"""
