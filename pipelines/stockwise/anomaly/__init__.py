"""Inventory anomaly detection: rule detectors, scoring of the alerts, evaluation against labels."""
