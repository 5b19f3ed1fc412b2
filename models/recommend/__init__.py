"""Product recommendations: who should be shown which products, and how good the lists are.

``base`` holds the single-signal recommenders (popularity, buy again, item-kNN, EASE, ALS),
``blend`` the candidates, features and LightGBM blend, ``kernels`` (inputs in ``packed``) the
compiled per-user passes, ``fitting`` / ``serving`` / ``evaluation`` the fit at a cutoff, the
served lists and the held-out comparison, ``sasrec`` the sequence model, ``metrics`` the
ranking metrics. Pages use ``service`` only; the heavy imports (numba, torch, LightGBM) load
lazily.
"""
