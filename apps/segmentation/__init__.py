"""Semantic segmentation: a class per pixel, served as masks from raw image bytes."""
