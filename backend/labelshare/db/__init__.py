"""Persistence: SQLAlchemy 2 models, engine/session set-up, Alembic migrations."""
