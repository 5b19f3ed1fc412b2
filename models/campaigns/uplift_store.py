"""An uplift model on disk: a JSON card plus the LightGBM text of every booster (no pickles).

``to_artifacts`` gives the card and the texts keyed by a short part name; ``card_parts`` names the
parts a card needs; ``from_artifacts`` rebuilds the ``UpliftFit`` for scoring.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np

from models.campaigns.uplift import ArmModel, UpliftFit

__all__ = ["card_parts", "from_artifacts", "to_artifacts"]


def to_artifacts(fit: UpliftFit) -> tuple[dict[str, Any], dict[str, str]]:
    """A JSON-safe card and the LightGBM text of every booster, keyed by a short part name."""
    texts: dict[str, str] = {"base": fit.baseline.model_to_string()}
    names = {id(fit.baseline): "base"}
    arms: dict[str, Any] = {}
    for k, (a, model) in enumerate(fit.arms.items()):

        def name(booster: lgb.Booster, k: int = k) -> str:
            if id(booster) not in names:
                names[id(booster)] = f"arm{k}_{len(names)}"
                texts[names[id(booster)]] = booster.model_to_string()
            return names[id(booster)]

        parts = [[name(booster), weight] for booster, weight in model.components]
        scaled = [
            {"components": [[name(b), w] for b, w in comps], "outcome": name(out),
             "weight": w_term, "side": side}
            for comps, out, w_term, side in model.scaled
        ]  # fmt: skip
        arms[a] = {
            "learner": model.learner,
            "components": parts,
            "scaled": scaled,
            "calibration": list(model.calibration),
            "calibration_cov": model.calibration_cov,
            "treated_share": model.treated_share,
            "metrics": model.metrics,
            "curves": model.curves,
            "harm": model.harm,
        }
    card = {
        "control": fit.control,
        "binary": fit.binary,
        "feature_names": fit.feature_names,
        "arms": arms,
    }
    return card, texts


def card_parts(card: dict[str, Any]) -> set[str]:
    """The names of every booster part an uplift card refers to (``to_artifacts`` texts)."""
    parts = {"base"}
    for spec in card["arms"].values():
        parts |= {name for name, _ in spec["components"]}
        for term in spec.get("scaled", []):
            parts |= {name for name, _ in term["components"]} | {term["outcome"]}
    return parts


def from_artifacts(card: dict[str, Any], texts: dict[str, str]) -> UpliftFit:
    """Rebuild an ``UpliftFit`` from ``to_artifacts`` output (for scoring)."""
    boosters = {name: lgb.Booster(model_str=text) for name, text in texts.items()}
    arms = {
        a: ArmModel(
            arm=a,
            learner=spec["learner"],
            components=[(boosters[name], float(w)) for name, w in spec["components"]],
            calibration=(float(spec["calibration"][0]), float(spec["calibration"][1])),
            calibration_cov=spec["calibration_cov"],
            treated_share=float(spec["treated_share"]),
            metrics=spec.get("metrics", {}),
            curves=spec.get("curves", {}),
            harm=spec.get("harm", []),
            scaled=[
                (
                    [(boosters[n], float(w)) for n, w in term["components"]],
                    boosters[term["outcome"]],
                    float(term["weight"]),
                    int(term["side"]),
                )
                for term in spec.get("scaled", [])
            ],
        )
        for a, spec in card["arms"].items()
    }
    return UpliftFit(
        arms=arms,
        baseline=boosters["base"],
        control=card["control"],
        binary=bool(card["binary"]),
        feature_names=list(card["feature_names"]),
        fold=np.array([], dtype=int),
    )
