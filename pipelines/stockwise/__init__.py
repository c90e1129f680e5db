"""Stockwise core: settings, the lake, ERP connectors, validation, planning, publishing, report."""

__version__ = "0.1.0"
