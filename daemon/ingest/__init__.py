"""Ingest: the one path a delivery takes, from a path on disk to rows in the database.

Look here when a file was imported twice, not at all, or wrongly: ``paths`` decides which
files belong to inboxd, ``pipeline`` runs each through locate -> read -> ledger -> parse ->
import -> record, ``ledger`` remembers what was handled, ``archive`` keeps a copy of every
delivery, and ``importers/`` are the only code that writes data tables.
"""
