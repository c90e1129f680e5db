"""ERP connectors: each returns the canonical extracts of `stockwise.erp.schema`."""
