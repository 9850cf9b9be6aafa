"""The store: SQLAlchemy 2 (async) tables, repositories and Alembic migrations."""
