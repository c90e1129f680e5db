"""Forecasting shared by training and serving: the panel layout and the always-available baseline."""
