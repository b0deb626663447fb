"""Shared machinery of every app: registry, typed configs, data sources, runs."""
