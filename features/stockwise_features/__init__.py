"""Spark jobs that turn validated extracts into feature tables."""
