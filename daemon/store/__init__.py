"""Store: the database itself: its tables, engine, schema migrations and backups.

Look here when the database is refused, locked, adopted wrongly or needs restoring. Nothing
here knows about files or agents.
"""
