"""Ingest: a shop's own files (events, orders, customer tables) into canonical frames.

Owns reading files (``readers``: formats, encodings, bombs), mapping columns (``mapping``),
time formats (``times``), the event scan with its rejects and report (``events``, ``parsing``,
``report``, ``items``), customer and side tables (``tables``) and the dataset service
(``service``). ``pipeline`` is the entry: ``detect_file`` then ``ingest_file``.
"""
