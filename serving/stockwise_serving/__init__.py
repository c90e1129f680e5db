"""Batch scoring with registered models (by alias)."""
