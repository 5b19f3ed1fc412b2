"""Segments: who the customers are, drawn on a map and grouped into named segments.

Owns the self-supervised user embeddings (``embeddings``), the expected-value axis
(``forecast``), the 2-D map (``projection``), k-means, profiles, rules and names
(``clustering``) and the map's colour choices (``colours``). Pages and the CLI use
``models.segments.service`` only: ``run_segmentation``, ``load_segmentation``, ``segment_map``,
``classic_rfm`` and ``segmentation_stamp`` (the UI's cache key).
"""
