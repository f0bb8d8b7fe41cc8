"""Registry service — the system of record: cooperatives, status reports, units, agencies, reports."""
