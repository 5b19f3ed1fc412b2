"""What learns from the data and acts on it, one package per business domain.

``segments`` (embeddings, the map, segments and their profiles), ``predict`` (purchase, churn,
revenue and next-category predictors with their baselines and reasons), ``recommend`` (product
recommenders, their blend and serving) and ``campaigns`` (audiences, uplift, simulation, export and
measurement). Each package holds its data code, its learning code and its ``service`` module.
"""
