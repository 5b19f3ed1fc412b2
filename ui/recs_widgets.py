"""Streamlit glue of the Recommendations page: cached reads, the run button, and its sections."""

from __future__ import annotations

import polars as pl
import streamlit as st

from analytics.core.schema import ITEM_ID
from analytics.core.workspace import Workspace
from models.recommend.service import (
    RecommendResult,
    RecommendSpec,
    run_recommendations,
    user_history,
    user_recommendations,
)
from ui import cache
from ui.charts_recs import TASKS, comparison_table, model_comparison_chart
from ui.progress import progress_bar

__all__ = [
    "show_model_comparison",
    "show_run_button",
    "show_segment_top_items",
    "show_similar_items",
    "show_user_lookup",
]

LIST_TITLES = {"combined": "Recommended", "buy_again": "Buy again", "new": "New for you"}


def show_run_button(ws: Workspace, dataset: str, done: bool, key: str) -> None:
    """A button that (re)computes everything with a progress bar, then reruns the page."""
    label = "Recompute recommendations" if done else "Compute recommendations"
    if st.button(label, type="secondary" if done else "primary", key=f"{key}_run"):
        with progress_bar("Training the recommenders") as progress:
            run_recommendations(ws, dataset, RecommendSpec(), progress=progress)
        st.rerun()


def show_verdict(result: RecommendResult) -> None:
    r, ev = result.report, result.report["evaluation"]
    lift = r["lift_over_baseline"]
    better = f"{lift:.1f}x as good as" if lift else "compared with"
    st.success(
        f"**{r['chosen_label']}** serves the lists: on the held-out {ev['horizon_days']:.0f} days "
        f"after {ev['cutoff'][:10]} its top {r['k']} was {better} simply showing the best sellers "
        f"(NDCG {r['metrics']['ndcg']:.3f} vs {r['baseline']['ndcg']:.3f}), over "
        f"{ev['users']['all']:,} customers who bought again.",
        icon=":material/verified:",
    )
    st.caption(
        f"Lists as of {r['cutoff'][:10]} for {r['users']:,} customers. Trained on {ev['device']} "
        f"in {r['seconds'].get('serving_total', 0):.0f} s."
    )


def show_model_comparison(result: RecommendResult) -> None:
    table, chosen, k = result.table, result.report["chosen"], result.report["k"]
    for tab, (task, title) in zip(st.tabs(list(TASKS.values())), TASKS.items(), strict=True):
        with tab:
            best_new = "blend" if task == "new" else chosen
            st.plotly_chart(model_comparison_chart(table, task, best_new, k), key=f"cmp_{task}")
            st.dataframe(
                comparison_table(table, task, best_new),
                hide_index=True,
                column_config={
                    c: st.column_config.NumberColumn(format="%.3f")
                    for c in ("NDCG", "Baseline NDCG", "Recall", "Hit rate")
                }
                | {"x baseline": st.column_config.NumberColumn(format="%.2fx")},
            )
            st.caption(f"{title}: {_explain(task)}")


def _explain(task: str) -> str:
    if task == "all":
        return "how well each top list matched everything the customer bought next."
    return "only items the customer had never bought before (what 'new for you' is for)."


def show_user_lookup(ws: Workspace, dataset: str, result: RecommendResult, key: str) -> str | None:
    """Pick a customer; their history beside their three lists. Returns an item they were shown."""
    users = result.recs.filter(pl.col("list") == "buy_again")["user_id"].unique().sort()
    users = users if users.len() else result.recs["user_id"].unique().sort()
    user = st.selectbox("Customer", users.to_list(), key=f"{key}_user")
    if user is None:
        return None
    names = cache.item_names(ws, dataset)
    left, right = st.columns(2)
    with left:
        st.markdown("**What they did** (latest first)")
        hist = user_history(ws, dataset, user)
        st.dataframe(
            hist.select("event_time", "event_type", "name", "category"),
            hide_index=True,
            height=390,
            column_config={
                "event_time": st.column_config.DatetimeColumn("When", format="D MMM YYYY, HH:mm"),
                "event_type": st.column_config.TextColumn("What", width=70),
                "name": "Product",
                "category": "Category",
            },
        )
    recs = user_recommendations(result, names, user)
    with right:
        tabs = st.tabs(list(LIST_TITLES.values()))
        for tab, name in zip(tabs, LIST_TITLES, strict=True):
            with tab:
                rows = recs.filter(pl.col("list") == name).sort("rank")
                st.dataframe(
                    rows.select("rank", "name", "category", "score"),
                    hide_index=True,
                    column_config={
                        "rank": st.column_config.NumberColumn("#", width=40),
                        "name": "Product",
                        "category": "Category",
                        "score": st.column_config.ProgressColumn(
                            "Chance to buy", format="%.2f", min_value=0.0, max_value=1.0
                        ),
                    },
                )
    top = recs.filter(pl.col("list") == "combined").sort("rank")
    return str(top["item_id"][0]) if top.height else None


def show_similar_items(ws: Workspace, dataset: str, item_id: str | None, key: str) -> None:
    """Pick a product (default ``item_id``); the products its buyers also bought."""
    similar = cache.similar_products(ws, dataset)
    if similar is None or item_id is None:
        return
    names = cache.item_names(ws, dataset)
    options = similar[ITEM_ID].unique().sort().to_list()
    label = dict(zip(names[ITEM_ID], names["name"], strict=False))
    index = options.index(item_id) if item_id in options else 0
    item = st.selectbox(
        "Product", options, index=index, key=f"{key}_item", format_func=lambda i: label.get(i, i)
    )
    st.dataframe(
        similar.filter(pl.col(ITEM_ID) == item).select(
            "rank", "name", "category", "together", "similarity"
        ),
        hide_index=True,
        column_config={
            "rank": st.column_config.NumberColumn("#", width=40),
            "name": "Product",
            "category": "Category",
            "together": st.column_config.NumberColumn(
                "Bought together by",
                format="%d",
                help="Customers who bought both products",
            ),
            "similarity": st.column_config.NumberColumn(
                "Similarity",
                format="%.2f",
                help="Cosine similarity of the two products' buyers (0: none shared, 1: the same)",
            ),
        },
    )


def show_segment_top_items(ws: Workspace, dataset: str) -> None:
    """A table of recent best sellers per segment, and a word on segments without one."""
    best = cache.segment_best_sellers(ws, dataset)
    if best is None:
        st.info("Run the Segments page first to see the best sellers of each segment.")
        return
    when = f"in the last {best.window_days:.0f} days" if best.window_days else "lately"
    n_segments = best.table["segment"].n_unique()
    cols = st.columns(min(3, max(n_segments, 1)))
    for n, (_, rows) in enumerate(best.table.group_by("segment", maintain_order=True)):
        with cols[n % len(cols)]:
            st.markdown(f"**{rows['segment_label'][0]}**")
            st.dataframe(
                rows.select("rank", "name", "score"),
                hide_index=True,
                column_config={
                    "rank": st.column_config.NumberColumn("#", width=40),
                    "name": "Product",
                    # a number, not a bar: shares are a few percent, and a bar in a third
                    # of the page left no room for its figure
                    "score": st.column_config.NumberColumn(
                        "Bought by",
                        help=f"Share of the segment's customers who bought it {when}",
                        format="percent",
                    ),
                },
            )
    if best.without:
        st.caption(
            f"No best sellers for {_joined(best.without)}: none of their customers bought "
            f"anything {when}."
        )


def _joined(labels: tuple[str, ...]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    quoted = [f"**{label}**" for label in labels]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
