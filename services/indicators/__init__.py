"""Indicators service — plan 219's indicators and target progress, recomputed from status events."""
