"""Demand forecasting: models, rolling-origin backtests, selection and MLflow registration."""
