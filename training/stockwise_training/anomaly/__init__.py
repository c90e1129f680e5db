"""The stockwise-anomaly model: rule detectors plus an IsolationForest, evaluated by injection, in MLflow."""
