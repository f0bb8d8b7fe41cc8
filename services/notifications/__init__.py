"""Notifications service — deadline and target-risk alerts to the responsible agency."""
