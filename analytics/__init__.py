"""The data foundations: what a shop brings and what we read straight off it.

``core`` (column and artifact names, errors, progress, the workspace, device, model files),
``ingest`` (files to canonical events, side tables), ``features`` (user features, labels, RFM,
sequences), ``overview`` (the store at a glance) and ``demo`` (the built-in synthetic store). Nothing
here imports ``models/``: learning sits on top of these packages, never under them.
"""
