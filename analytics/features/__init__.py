"""Features: per-customer tables computed from the canonical events as of a cutoff (UTC).

Owns the user feature table and its plain-language labels (``user_features``), classic RFM scores
and groups (``rfm``: the one place RFM is computed), purchase activity in day bins and windows
(``activity``), prediction labels (``labels``) and event sequences for the neural models
(``sequences``). Pure functions on Polars frames; no workspace access, no models.
"""
