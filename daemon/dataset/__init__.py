"""Datasets out: immutable, verifiable snapshots of the stored pairs (``inboxd dataset``).

Where to look:

- ``filters``: what a snapshot takes (tier, score, agent, indicator, category, sessions, since,
  duplicates) and the deterministic train/validation/test split;
- ``rows``: the one query, streamed from the database as Arrow batches (never the whole table);
- ``formats``: the data files (Parquet, JSON Lines, CSV, DuckDB), each written batch by batch;
- ``extras``: what is derived from the same stream: RAG records, the review list, the keys
  index incremental snapshots and ``diff`` use, and the totals;
- ``manifest``: ``manifest.json`` (files with rows, bytes, SHA-256; totals; filters; parent);
- ``card``: ``DATASET.md``, the card a person reads;
- ``snapshot``: writing one into a temporary folder, renamed into place last; list and verify;
- ``compare``: incremental snapshots' parent state and ``dataset diff``.

The file layout is the contract in docs/formats.md, "Dataset snapshots".
"""
