"""Code shared by the three HTX Monitor services: config, db, events, auth, errors, clock, logging."""
