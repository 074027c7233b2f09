"""The top floor: the ``complaints`` command line, the demo and the local launchers (AWS emulator,
Airflow). Imported by nothing in the pipeline."""
