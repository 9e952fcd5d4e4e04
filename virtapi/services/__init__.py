"""Domain logic as plain functions over a SQLAlchemy session: no Flask, no HTTP."""
