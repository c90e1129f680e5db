"""Shelf vision: synthetic shelf photos and the YOLO facing counter."""
