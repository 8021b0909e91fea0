"""Near-duplicates: pairs that ask a stored question again in other words (issue 18).

Look here when a pair is marked (or skipped) as a near-duplicate and should not be, or the
reverse: ``text`` is what of a question is compared (its words and its anchors), ``signature``
its MinHash and the LSH bands made from it, ``matcher`` the search (candidates from the bands,
confirmed on the words and anchors against ``near_duplicate_threshold``) and the signatures it
stores, ``index`` the bands in memory (loaded from the signatures, kept up to date with other
hosts, a transaction's own pairs apart till it commits), ``rebuild`` ``inboxd dedup
--rebuild`` for pairs stored before. How and why: docs/near-duplicates.md.
"""
