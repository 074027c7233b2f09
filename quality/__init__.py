"""Data-quality gates of the pipeline.

``quality.complaint_checks``: the Great Expectations suite on the clean complaints, run as an
Airflow task (load, check, write the JSON report to the alerts folder, enforce).
"""
