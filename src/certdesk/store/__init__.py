"""Storage: SQLAlchemy 2 models, repositories and Alembic migrations. Nothing else touches SQL."""
