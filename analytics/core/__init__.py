"""What every domain shares and nothing else: the names, the errors and the workspace.

``schema`` (canonical column names and dtypes), ``artifacts`` (the names a dataset's files are
stored under, ``slug``), ``errors`` (typed user errors), ``progress`` (the progress callback),
``timing`` (``Stopwatch``), ``workspace`` (DuckDB catalog + Parquet artifacts, the only module that
touches files), ``device`` (where torch runs) and ``model_files`` (safe model serialisation). The
core imports nothing else of ours.
"""
