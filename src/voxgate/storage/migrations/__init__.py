"""Alembic migrations of the voxgate database (run by :meth:`Store.upgrade`)."""
