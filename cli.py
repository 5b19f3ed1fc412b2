"""AudienceLab from the command line: the same functions as the pages, one JSON object on stdout.

Logs and progress go to stderr. On a user error the exit status is 2 and stdout holds
``{"error": "..."}``. Run ``python cli.py --help`` for the verbs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from analytics.core.errors import AudienceLabError
from analytics.core.workspace import Workspace, default_workspace_dir

Handler = Callable[[Workspace, argparse.Namespace], dict[str, Any]]


def _stderr_progress(fraction: float, message: str) -> None:
    print(f"[{fraction * 100:5.1f}%] {message}", file=sys.stderr, flush=True)


def _parse_map(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    mapping: dict[str, str] = {}
    for pair in pairs:
        canonical, sep, source = pair.partition("=")
        if not sep or not canonical or not source:
            raise AudienceLabError(f"--map expects canonical=source, got '{pair}'.")
        mapping[canonical.strip()] = source.strip()
    return mapping


# --- verbs ------------------------------------------------------------------------------------
def cmd_demo(ws: Workspace, args: argparse.Namespace) -> dict[str, Any]:
    from analytics.demo.service import load_demo

    return load_demo(
        ws, users=args.users, seed=args.seed, truth_out=args.truth_out, progress=_stderr_progress
    )


def cmd_ingest(ws: Workspace, args: argparse.Namespace) -> dict[str, Any]:
    from analytics.ingest.service import ingest_path

    return ingest_path(
        ws,
        args.path,
        name=args.name,
        shape=args.shape,
        mapping=_parse_map(args.map),
        day_first=getattr(args, "day_first", None),
        progress=_stderr_progress,
    )


def _not_built(verb: str) -> Handler:
    def handler(ws: Workspace, args: argparse.Namespace) -> dict[str, Any]:
        raise AudienceLabError(f"'{verb}' is not available in this build yet.")

    return handler


def cmd_segment(ws: Workspace, args: argparse.Namespace) -> dict[str, Any]:
    from models.segments.service import SegmentSpec, ari_vs_truth, run_segmentation

    spec = SegmentSpec(k=args.k, cutoff=args.cutoff)
    result = run_segmentation(ws, args.dataset, spec, progress=_stderr_progress)
    summary = result.summary()
    ari = ari_vs_truth(ws, args.dataset, result.segments)
    if ari is not None:
        summary["ari_vs_truth"] = round(ari, 4)
    if args.out is not None:
        summary["out"] = str(_write_segments_out(result.segments.drop("segment_name"), args.out))
    return summary


def _write_segments_out(df: Any, path: Path) -> Path:
    """Write a polars frame as CSV, or Parquet when the path ends in .parquet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        df.write_parquet(path)
    else:
        df.write_csv(path)
    return path


def _write_scores(df: Any, path: Path) -> Path:
    """Scores as CSV, or Parquet when the path ends in .parquet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        df.write_parquet(path)
    else:
        df.write_csv(path)
    return path


def cmd_train(ws: Workspace, args: argparse.Namespace) -> dict[str, Any]:
    from models.predict.service import TrainSpec, train_predictor

    spec = TrainSpec(target=args.target, cutoff=args.cutoff, horizon_days=args.horizon_days)
    result = train_predictor(ws, args.dataset, spec, progress=_stderr_progress)
    out = result.summary()
    if args.scores_out:
        # every user seen on or before the cutoff, so any label can be checked against it
        out["scores_out"] = str(
            _write_scores(result.scores.select("user_id", "score"), args.scores_out)
        )
    return out


def cmd_uplift(ws: Workspace, args: argparse.Namespace) -> dict[str, Any]:
    from models.campaigns.service import UpliftSpec, train_uplift

    spec = UpliftSpec(treatment=args.treatment, outcome=args.outcome, control=args.control)
    return train_uplift(ws, args.dataset, spec, progress=_stderr_progress).summary()


def cmd_score(ws: Workspace, args: argparse.Namespace) -> dict[str, Any]:
    record = next((r for r in ws.list_records("model") if r.key == args.model), None)
    if record is not None and record.payload.get("kind") == "uplift":
        from models.campaigns.service import score_uplift_model

        scores = score_uplift_model(ws, args.model, args.dataset)
    else:
        from models.predict.service import score_with_model

        scores = score_with_model(ws, args.model, args.dataset)
    return {"rows": scores.height, "out": str(_write_scores(scores, args.out))}


def cmd_recommend(ws: Workspace, args: argparse.Namespace) -> dict[str, Any]:
    from models.recommend.service import RecommendSpec, run_recommendations, write_recommendations

    spec = RecommendSpec(cutoff=args.cutoff, k=args.k)
    result = run_recommendations(ws, args.dataset, spec, progress=_stderr_progress)
    rows = write_recommendations(result, args.out, args.list)
    return {**result.summary(), "list": args.list, "rows": rows, "out": str(args.out)}


def _read_spec(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise AudienceLabError(f"Cannot read the spec {path}: {err}") from None
    if not isinstance(data, dict):
        raise AudienceLabError(f"The spec {path} must hold one JSON object.")
    return data


def cmd_simulate(ws: Workspace, args: argparse.Namespace) -> dict[str, Any]:
    from models.campaigns.service import save_campaign, simulate
    from models.campaigns.simulation import campaign_from_json

    result = simulate(ws, args.dataset, campaign_from_json(_read_spec(args.spec)), _stderr_progress)
    save_campaign(ws, args.dataset, result)
    return result.summary()


def cmd_export(ws: Workspace, args: argparse.Namespace) -> dict[str, Any]:
    from models.campaigns.export import export_from_json
    from models.campaigns.service import export_campaign

    spec = export_from_json(_read_spec(args.spec))
    return export_campaign(ws, args.dataset, spec, out=args.out).summary()


# --- parser -----------------------------------------------------------------------------------
def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date like 2011-09-09") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cli.py", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--workspace",
        type=Path,
        default=None,
        help="workspace folder (default ./workspace or $AUDIENCELAB_WORKSPACE)",
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = verbs.add_parser("demo", help="generate and ingest the demo store as dataset 'demo'")
    p.add_argument("--users", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--truth-out", type=Path, help="write the planted truth per user here")
    p.set_defaults(handler=lambda ws, a: cmd_demo(ws, a))

    p = verbs.add_parser("ingest", help="ingest a file (auto-mapping unless --map is given)")
    p.add_argument("path", type=Path)
    p.add_argument("--name", help="dataset name (default: the file name)")
    p.add_argument("--shape", choices=["events", "transactions", "customers"])
    p.add_argument("--map", nargs="+", metavar="CANONICAL=SOURCE")
    order = p.add_mutually_exclusive_group()
    order.add_argument(
        "--day-first",
        dest="day_first",
        action="store_true",
        default=None,
        help="read dates like 03/04/2011 as day/month (only needed when the file cannot tell)",
    )
    order.add_argument("--month-first", dest="day_first", action="store_false", help="month/day")
    p.set_defaults(handler=lambda ws, a: cmd_ingest(ws, a))

    p = verbs.add_parser("segment", help="features, embeddings, UMAP map and segments")
    p.add_argument("--dataset", required=True)
    p.add_argument("--k", type=int, help="force the number of segments")
    p.add_argument("--cutoff", type=_date)
    p.add_argument("--out", type=Path, help="write user_id, segment, x, y here")
    p.set_defaults(handler=lambda ws, a: cmd_segment(ws, a))

    p = verbs.add_parser("train", help="train and evaluate a predictor on a time split")
    p.add_argument("--dataset", required=True)
    p.add_argument(
        "--target", required=True, choices=["purchase", "churn", "revenue", "next_category"]
    )
    p.add_argument("--cutoff", type=_date)
    p.add_argument("--horizon-days", type=int)
    p.add_argument("--scores-out", type=Path)
    p.set_defaults(handler=lambda ws, a: cmd_train(ws, a))

    p = verbs.add_parser("uplift", help="learn uplift from a past campaign or test")
    p.add_argument("--dataset", required=True)
    p.add_argument("--treatment", required=True, help="column holding the arm")
    p.add_argument("--outcome", required=True, help="column holding the outcome")
    p.add_argument("--control", help="value of the control arm")
    p.set_defaults(handler=lambda ws, a: cmd_uplift(ws, a))

    p = verbs.add_parser("score", help="apply a saved model to a dataset")
    p.add_argument("--model", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(handler=lambda ws, a: cmd_score(ws, a))

    p = verbs.add_parser("recommend", help="top-N product recommendations per user")
    p.add_argument("--dataset", required=True)
    p.add_argument("--cutoff", type=_date)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--list", choices=["combined", "buy_again", "new"], default="combined")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(handler=lambda ws, a: cmd_recommend(ws, a))

    p = verbs.add_parser("simulate", help="simulate a campaign from a spec")
    p.add_argument("--dataset", required=True)
    p.add_argument("--spec", type=Path, required=True)
    p.set_defaults(handler=lambda ws, a: cmd_simulate(ws, a))

    p = verbs.add_parser("export", help="write the campaign list with its control group")
    p.add_argument("--dataset", required=True)
    p.add_argument("--spec", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(handler=lambda ws, a: cmd_export(ws, a))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        ws = Workspace(args.workspace or default_workspace_dir())
        result = args.handler(ws, args)
    except AudienceLabError as err:
        print(json.dumps({"error": str(err)}))
        return 2
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
