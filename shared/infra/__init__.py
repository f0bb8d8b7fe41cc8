"""Local infrastructure (Kafka, PostgreSQL) started for dev runs, tests and CI."""
