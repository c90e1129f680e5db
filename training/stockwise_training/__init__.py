"""Forecast, anomaly and vision training, backtests and MLflow registration."""
