"""Alembic environment of the register, run programmatically by `store.open_register`."""
