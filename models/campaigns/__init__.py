"""Campaigns: who to contact, who is persuadable, what an offer brings, and what it did.

Owns audiences (``audience``: rules; saved lists, fixed or dynamic), uplift models (``uplift``,
``uplift_metrics``, ``uplift_store``, ``training``), the campaign simulator (``simulation``), the
control group and measurement (``measurement``) and the spreadsheet-safe export (``export``).
Pages and the CLI call ``models.campaigns.service`` only; it re-exports the spec and result
types they need. Nothing heavy is imported here (LightGBM loads with ``uplift``).
"""
