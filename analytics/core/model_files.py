"""Safe model serialisation: LightGBM text and JSON, torch ``state_dict`` with ``weights_only``.

Nothing here unpickles: a model file from elsewhere can at worst fail to load, never run code.
The bytes go to ``Workspace.write_bytes``; this module itself touches no files.
"""

from __future__ import annotations

import io
import json
from typing import Any

import lightgbm as lgb

from analytics.core.errors import SpecError

__all__ = ["load_state_dict", "pack_boosters", "save_state_dict", "unpack_boosters"]

_MAGIC = "audiencelab-lightgbm/1"


def pack_boosters(kind: str, meta: dict[str, Any], boosters: dict[str, lgb.Booster]) -> bytes:
    """One JSON document holding ``kind``, ``meta`` and each booster as LightGBM model text."""
    doc = {
        "format": _MAGIC,
        "kind": kind,
        "meta": meta,
        "boosters": {name: b.model_to_string() for name, b in boosters.items()},
    }
    return json.dumps(doc, default=str).encode("utf-8")


def unpack_boosters(data: bytes) -> tuple[str, dict[str, Any], dict[str, lgb.Booster]]:
    """``(kind, meta, boosters)`` from ``pack_boosters`` bytes; ``SpecError`` if not ours."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SpecError("This model file is not an AudienceLab LightGBM model.") from err
    if not isinstance(doc, dict) or doc.get("format") != _MAGIC:
        raise SpecError("This model file is not an AudienceLab LightGBM model.")
    boosters = {name: lgb.Booster(model_str=text) for name, text in doc["boosters"].items()}
    return doc["kind"], doc["meta"], boosters


def save_state_dict(state: dict[str, Any], meta: dict[str, Any]) -> bytes:
    """A torch ``state_dict`` plus JSON-able ``meta`` as bytes (tensors and plain values only)."""
    import torch  # imported here: LightGBM-only callers should not pay for torch

    buf = io.BytesIO()
    torch.save({"state": state, "meta": json.dumps(meta, default=str)}, buf)
    return buf.getvalue()


def load_state_dict(data: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(state_dict, meta)`` loaded with ``weights_only=True`` (refuses arbitrary objects)."""
    import torch

    try:
        doc = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as err:  # torch raises several types for foreign or hostile files
        raise SpecError("This model file is not an AudienceLab torch model.") from err
    return doc["state"], json.loads(doc["meta"])
