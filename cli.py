"""AudienceLab from the command line: the same services as the pages, one JSON object on stdout.

Logs and progress go to stderr. On a user error the exit status is 2 and stdout holds
``{"error": "..."}`` (with ``"busy": true`` when another writer holds the dataset). Every answer
is strict JSON (no NaN or Infinity) and says which ``engine`` ran it. ``python cli.py --help``
lists the verbs; each verb's options are declared beside its handler below.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

from analytics.core.errors import AudienceLabError, WorkspaceBusy
from analytics.core.workspace import Workspace, default_workspace_dir

ENGINE = "local"  # the single-process engine; every answer names the engine that ran it

Handler = Callable[[Workspace, argparse.Namespace], dict[str, Any]]


class UsageError(AudienceLabError):
    """A command line that does not parse: answered as JSON like any other user error."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage text, so stdout stays one JSON object."""

    def error(self, message: str) -> NoReturn:
        hint = (
            " (a value starting with '-' is written --name=-x)" if "expected one" in message else ""
        )
        command = " ".join(["python", *self.prog.split(), "--help"])
        raise UsageError(f"{message}{hint}. Run '{command}'.")


def _progress(fraction: float, message: str) -> None:
    print(f"[{fraction * 100:5.1f}%] {message}", file=sys.stderr, flush=True)


def _parse_map(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    mapping: dict[str, str] = {}
    for pair in pairs:
        canonical, sep, source = pair.partition("=")
        if not sep or not canonical or not source:
            raise UsageError(f"--map expects canonical=source, got '{pair}'.")
        mapping[canonical.strip()] = source.strip()
    return mapping


def _write_table(df: Any, path: Path) -> str:
    """A polars frame as CSV, or Parquet when the path ends in .parquet; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        df.write_parquet(path)
    else:
        df.write_csv(path)
    return str(path)


def _read_spec(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UsageError(f"Cannot read the spec {path}: {err}") from None
    if not isinstance(data, dict):
        raise UsageError(f"The spec {path} must hold one JSON object.")
    return data


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date like 2011-09-09") from None


# --- verbs: each a handler and the options it reads ----------------------------------------------
def cmd_demo(ws: Workspace, args: argparse.Namespace) -> dict[str, Any]:
    from analytics.demo.service import load_demo

    return load_demo(
        ws, users=args.users, seed=args.seed, truth_out=args.truth_out, progress=_progress
    )


def _demo_args(p: argparse.ArgumentParser) -> None:
    from analytics.demo.service import DEMO_USERS

    p.add_argument("--users", type=int, default=DEMO_USERS)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--truth-out", type=Path, help="write the planted truth per user here")


def cmd_ingest(ws: Workspace, args: argparse.Namespace) -> dict[str, Any]:
    from analytics.ingest.service import ingest_path

    mapping = _parse_map(args.map)
    return ingest_path(
        ws, args.path, name=args.name, shape=args.shape, mapping=mapping,
        day_first=args.day_first, progress=_progress,
    )  # fmt: skip


def _ingest_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", type=Path)
    p.add_argument("--name", help="dataset name (default: the file name)")
    p.add_argument("--shape", choices=["events", "transactions", "customers"])
    p.add_argument("--map", nargs="+", metavar="CANONICAL=SOURCE")
    order = p.add_mutually_exclusive_group()
    order.add_argument(
        "--day-first", dest="day_first", action="store_true", default=None,
        help="read dates like 03/04/2011 as day/month (only needed when the file cannot tell)",
    )  # fmt: skip
    order.add_argument("--month-first", dest="day_first", action="store_false", help="month/day")


def cmd_segment(ws: Workspace, args: argparse.Namespace) -> dict[str, Any]:
    from models.segments.service import SegmentSpec, ari_vs_truth, run_segmentation

    result = run_segmentation(
        ws, args.dataset, SegmentSpec(k=args.k, cutoff=args.cutoff), _progress
    )
    summary = result.summary()
    ari = ari_vs_truth(ws, args.dataset, result.segments)
    if ari is not None:
        summary["ari_vs_truth"] = round(ari, 4)
    if args.out is not None:
        summary["out"] = _write_table(result.segments.drop("segment_name"), args.out)
    return summary


def _segment_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True)
    p.add_argument("--k", type=int, help="force the number of segments")
    p.add_argument("--cutoff", type=_date)
    p.add_argument("--out", type=Path, help="write user_id, segment, x, y here")


def cmd_train(ws: Workspace, args: argparse.Namespace) -> dict[str, Any]:
    from models.predict.service import TrainSpec, train_predictor

    spec = TrainSpec(target=args.target, cutoff=args.cutoff, horizon_days=args.horizon_days)
    result = train_predictor(ws, args.dataset, spec, progress=_progress)
    out = result.summary()
    if args.scores_out:
        # every user seen on or before the cutoff, so any label can be checked against it
        out["scores_out"] = _write_table(result.scores.select("user_id", "score"), args.scores_out)
    return out


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True)
    p.add_argument("--target", required=True, choices=_train_targets())
    p.add_argument("--cutoff", type=_date)
    p.add_argument("--horizon-days", type=int)
    p.add_argument("--scores-out", type=Path)


def _train_targets() -> list[str]:
    return ["purchase", "churn", "revenue", "next_category"]


def cmd_uplift(ws: Workspace, args: argparse.Namespace) -> dict[str, Any]:
    from models.campaigns.service import UpliftSpec, train_uplift

    spec = UpliftSpec(treatment=args.treatment, outcome=args.outcome, control=args.control)
    return train_uplift(ws, args.dataset, spec, progress=_progress).summary()


def _uplift_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True)
    p.add_argument("--treatment", required=True, help="column holding the arm")
    p.add_argument("--outcome", required=True, help="column holding the outcome")
    p.add_argument("--control", help="value of the control arm")


def cmd_score(ws: Workspace, args: argparse.Namespace) -> dict[str, Any]:
    record = next((r for r in ws.list_records("model") if r.key == args.model), None)
    if record is not None and record.payload.get("kind") == "uplift":
        from models.campaigns.service import score_uplift_model

        scores = score_uplift_model(ws, args.model, args.dataset)
    else:
        from models.predict.service import score_with_model

        scores = score_with_model(ws, args.model, args.dataset)
    return {"rows": scores.height, "out": _write_table(scores, args.out)}


def _score_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--out", type=Path, required=True)


def cmd_recommend(ws: Workspace, args: argparse.Namespace) -> dict[str, Any]:
    from models.recommend.service import RecommendSpec, run_recommendations, write_recommendations

    spec = RecommendSpec(cutoff=args.cutoff, k=args.k)
    result = run_recommendations(ws, args.dataset, spec, progress=_progress)
    rows = write_recommendations(result, args.out, args.list)
    return {**result.summary(), "list": args.list, "rows": rows, "out": str(args.out)}


def _recommend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True)
    p.add_argument("--cutoff", type=_date)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--list", choices=["combined", "buy_again", "new"], default="combined")
    p.add_argument("--out", type=Path, required=True)


def cmd_simulate(ws: Workspace, args: argparse.Namespace) -> dict[str, Any]:
    from models.campaigns.service import save_campaign, simulate
    from models.campaigns.simulation import campaign_from_json

    result = simulate(ws, args.dataset, campaign_from_json(_read_spec(args.spec)), _progress)
    save_campaign(ws, args.dataset, result)
    return result.summary()


def _simulate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True)
    p.add_argument("--spec", type=Path, required=True)


def cmd_export(ws: Workspace, args: argparse.Namespace) -> dict[str, Any]:
    from models.campaigns.export import export_from_json
    from models.campaigns.service import export_campaign

    spec = export_from_json(_read_spec(args.spec))
    return export_campaign(ws, args.dataset, spec, out=args.out).summary()


def _export_args(p: argparse.ArgumentParser) -> None:
    _simulate_args(p)
    p.add_argument("--out", type=Path, required=True)


# verb -> (help, options, handler), in the order --help lists them
VERBS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Handler]] = {
    "demo": ("generate and ingest the demo store as dataset 'demo'", _demo_args, cmd_demo),
    "ingest": ("ingest a file (auto-mapping unless --map is given)", _ingest_args, cmd_ingest),
    "segment": ("features, embeddings, UMAP map and segments", _segment_args, cmd_segment),
    "train": ("train and evaluate a predictor on a time split", _train_args, cmd_train),
    "uplift": ("learn uplift from a past campaign or test", _uplift_args, cmd_uplift),
    "score": ("apply a saved model to a dataset", _score_args, cmd_score),
    "recommend": ("top-N product recommendations per user", _recommend_args, cmd_recommend),
    "simulate": ("simulate a campaign from a spec", _simulate_args, cmd_simulate),
    "export": ("write the campaign list with its control group", _export_args, cmd_export),
}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cli.py", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--workspace", type=Path, default=None,
        help="workspace folder (default ./workspace or $AUDIENCELAB_WORKSPACE)",
    )  # fmt: skip
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb, (help_text, add_options, handler) in VERBS.items():
        sub = verbs.add_parser(verb, help=help_text)
        add_options(sub)
        sub.set_defaults(handler=handler)
    return parser


def strict_json(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by null, so the output is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    return value


def _answer(payload: dict[str, Any]) -> None:
    print(json.dumps(strict_json(payload), default=str, allow_nan=False))


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        ws = Workspace(args.workspace or default_workspace_dir())
        result = args.handler(ws, args)
    except WorkspaceBusy as err:
        _answer({"error": str(err), "busy": True, "engine": ENGINE})
        return 2
    except AudienceLabError as err:
        _answer({"error": str(err), "engine": ENGINE})
        return 2
    except Exception as err:  # a bug, not the user's doing: say so without a traceback or data
        if os.environ.get("AUDIENCELAB_DEBUG"):
            raise
        _answer({"error": f"Unexpected internal error ({type(err).__name__}); nothing was "
                 "changed by this step. Set AUDIENCELAB_DEBUG=1 to see the details.",
                 "engine": ENGINE})  # fmt: skip
        return 1
    _answer({**result, "engine": ENGINE})
    return 0


if __name__ == "__main__":
    sys.exit(main())
