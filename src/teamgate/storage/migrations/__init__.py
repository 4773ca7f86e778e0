"""Alembic migrations for the teamgate database; run them with `teamgate.storage.migrate`."""
