"""Shelf evidence: reading photos safely and reconciling facing counts with the ERP."""
