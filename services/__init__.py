"""The three HTX Monitor services: registry, indicators, notifications."""
