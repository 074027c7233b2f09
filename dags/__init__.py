"""The pipeline's schedules: thin files that wire callables of the stages (no I/O at parse time)."""
