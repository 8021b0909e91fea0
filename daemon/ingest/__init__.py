"""Ingest: the one path a delivery takes, from a path on disk to rows in the database.

Look here when a file was imported twice, not at all, or wrongly: ``paths`` decides which
files belong to inboxd; ``pipeline`` runs each through its stages (locate -> read -> dedupe
against the ledger -> parse -> import -> record), ``reading`` is its read stage (hash, size
cap, links, the archive copy), ``delivery`` the values passed between them and ``retrying``
the policies for a busy disk or database; ``ledger`` remembers what was handled; ``archive``
keeps a copy of every delivery; ``importers/`` are the only code that writes data tables;
``assembly`` builds the pipeline and its status writer for every command; ``oneshot`` is
``scan``; ``compare`` and ``handoff`` serve the export and the refiner.
"""
