"""The demo store as a dataset: generate it, store it as ``demo``, keep its truth for evaluation.

The planted truth (``truth``) and the simulated ``future`` are stored beside the dataset as
artifacts for benchmarks and tests; no model reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from analytics.core.artifacts import EVENTS, EXPOSURES, FUTURE, ITEMS, TRUTH, USERS
from analytics.core.errors import SpecError
from analytics.core.progress import Progress, no_progress, scaled
from analytics.core.schema import EVENT_TIME, EVENT_TYPE, EVENTS_SCHEMA, REVENUE, USER_ID, Shape
from analytics.core.timing import Stopwatch
from analytics.core.workspace import Workspace
from analytics.demo.generator import DEMO_USERS, DemoSpec, DemoStore, generate_demo

__all__ = ["DEMO_DATASET", "DEMO_USERS", "demo_report", "ensure_demo", "load_demo"]

DEMO_DATASET = "demo"


def demo_report(store: DemoStore) -> dict[str, Any]:
    """The same keys as an ingest report, for the generated events."""
    events = store.events
    by_type = events.group_by(EVENT_TYPE).len().sort(EVENT_TYPE)
    span = events.select(pl.col(EVENT_TIME).min().alias("a"), pl.col(EVENT_TIME).max().alias("b"))
    first, last = span.row(0)
    return {
        "rows_read": events.height,
        "rows_accepted": events.height,
        "rows_rejected": 0,
        "rejected_by_reason": {},
        "rows_without_user": 0,
        "users": events[USER_ID].n_unique(),
        "users_in_table": store.users.height,
        "events_by_type": {str(k): int(v) for k, v in by_type.iter_rows()},
        "first_event": first.isoformat() if first else None,
        "last_event": last.isoformat() if last else None,
        "revenue_total": round(float(events[REVENUE].sum()), 2),
        "exposures": store.exposures.height,
        "items": store.items.height,
        "warnings": [],
        "seed": store.spec.seed,
    }


def load_demo(
    ws: Workspace,
    *,
    users: int = DEMO_USERS,
    seed: int = 7,
    truth_out: Path | None = None,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Generate the demo store and store it as dataset ``demo`` (replacing any earlier one)."""
    if truth_out is not None and truth_out.suffix.lower() not in {".csv", ".parquet"}:
        raise SpecError(f"--truth-out must end in .csv or .parquet, not '{truth_out.name}'.")
    clock = Stopwatch()
    store = generate_demo(DemoSpec(users=users, seed=seed), scaled(progress, 0.0, 0.7))
    progress(0.75, "Saving the demo store to the workspace")
    report = demo_report(store)
    ws.save_dataset(
        DEMO_DATASET,
        shape=Shape.EVENTS.value,
        source=f"built-in demo store (seed {seed})",
        mapping={name: name for name in EVENTS_SCHEMA},
        report=report,
        frames={
            EVENTS: store.events,
            USERS: store.users,
            EXPOSURES: store.exposures,
            ITEMS: store.items,
        },
    )
    progress(0.9, "Saving the planted truth (for evaluation only)")
    ws.write_frame(DEMO_DATASET, TRUTH, store.truth, {"evaluation_only": True})
    ws.write_frame(DEMO_DATASET, FUTURE, store.future, {"evaluation_only": True})
    if truth_out is not None:
        _write_truth(store.truth, truth_out)
    progress(1.0, "The demo store is ready")
    return {
        "dataset": DEMO_DATASET,
        "users": store.users.height,
        "events": store.events.height,
        "users_with_events": report["users"],
        "first_event": report["first_event"],
        "last_event": report["last_event"],
        "exposures": store.exposures.height,
        "future_events": store.future.height,
        "truth_out": str(truth_out) if truth_out is not None else None,
        "seconds": round(clock.seconds, 2),
    }


def _write_truth(truth: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        truth.write_parquet(path)
    else:
        truth.write_csv(path)


def ensure_demo(
    ws: Workspace, progress: Progress = no_progress, *, users: int = DEMO_USERS, seed: int = 7
) -> bool:
    """Generate the demo store only when the workspace has none; True if it generated."""
    if ws.has_dataset(DEMO_DATASET):
        return False
    load_demo(ws, users=users, seed=seed, progress=progress)
    return True
