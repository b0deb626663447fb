"""The detection app: find and box objects in photos, served from raw image bytes."""
