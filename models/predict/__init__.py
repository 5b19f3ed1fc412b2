"""Prediction: who buys, who churns, what they spend and buy next, and what they are worth.

Owns the LightGBM predictors (``gbm``, ``classifier``, ``revenue``, ``category``; loaded back
through ``predictors.load_predictor``), the GRU sequence model (``gru``), the classical baselines
(BG/NBD, R/F/M/T logistic), metrics with their intervals, SHAP reasons (``explain``), customer
lifetime value (``clv``) and the time-split pipeline (``training.fit_on_split``). Pages and the CLI
use ``models.predict.service`` only (train, score, model report, customer lookup).
"""
