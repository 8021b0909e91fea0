"""Store: the database itself: its tables, engine, writers' locks, schema migrations, backups.

Look here when the database is refused, locked, adopted wrongly or needs restoring. Nothing
here knows about files or agents.
"""
