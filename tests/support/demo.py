"""The tiny demo used across tests: big enough for every stage, small enough for seconds."""

from datetime import date

from stockwise.erp.demo import DemoConfig

TINY = DemoConfig(skus=12, stores=2, days=150, end=date(2025, 12, 31), seed=11)
TINY_DS = date(2025, 12, 31)
