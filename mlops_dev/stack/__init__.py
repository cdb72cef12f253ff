"""The local stack, without Docker, in parts: its configuration (`config`), process plumbing
(`processes`), the S3 server (`s3`), Airflow's processes (`airflow_services`) and the Celery
worker (`celery_worker`); `lifecycle` puts them together (`up`, `down`, `status`).
`mlops_dev.devstack` is the facade the tools use."""
