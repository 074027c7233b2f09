"""Complaint analytics pipeline: settings, command line, AWS access and sample sources."""
