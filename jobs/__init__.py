"""Batch jobs: landing into the raw zone and the Spark transform into the clean zone."""
