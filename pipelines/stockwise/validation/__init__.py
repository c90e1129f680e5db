"""Data quality gate: one Great Expectations suite per ERP extract."""
