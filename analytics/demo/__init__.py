"""The built-in demo store: a deterministic synthetic shop with planted, known structure.

``world`` (user types, catalogue, population, calendar and the true rates), ``generator``
(``generate_demo``: events, users, exposures, items, truth, future) and ``service`` (``load_demo``,
``ensure_demo``: the store as dataset ``demo``, its truth kept aside for evaluation only).
"""
