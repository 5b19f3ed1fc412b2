"""Segments page: the customer map, segment cards, and the classic RFM view beside them."""

from __future__ import annotations

import streamlit as st

from analytics.core.errors import AudienceLabError
from analytics.features.rfm import RFM_RULES
from models.campaigns.service import save_audience
from models.segments.service import SegmentSpec, run_segmentation
from ui import state
from ui.cache import cached_segmentation, map_frame
from ui.charts_segments import (
    result_caption,
    rfm_groups_chart,
    segment_map_chart,
    selected_user_ids,
    show_segment_card,
)
from ui.progress import progress_bar

st.title("Segments")
ws, dataset = state.require_dataset(
    "Segments need a dataset: load the demo store or upload a file on the Data page."
)

fingerprint = ws.dataset(dataset).fingerprint
record = ws.get_record("run", dataset, "segment")
stamp = str(record.created_at) if record else ""

with st.expander("Segment settings", expanded=record is None):
    auto = st.toggle("Choose the number of segments automatically", value=True)
    k = None if auto else st.slider("Number of segments", 2, 12, 6)
    if st.button("Find segments", type="primary", key="run_segments"):
        try:
            with progress_bar("Finding segments") as report:
                run_segmentation(ws, dataset, SegmentSpec(k=k), progress=report)
            st.rerun()
        except AudienceLabError as err:
            st.error(str(err))

result = cached_segmentation(ws, dataset, fingerprint, stamp) if record else None
if result is None:
    st.info(
        "No segments yet for this dataset. Press **Find segments**: AudienceLab learns a profile "
        "of every customer from their behaviour, draws them on a map and groups them."
    )
    st.stop()

st.caption(result_caption(result))
learned, classic = st.tabs(["Learned segments", "Classic RFM"])
with learned:
    points = map_frame(ws, dataset, fingerprint, stamp)
    numeric = [c for c in points.columns if c not in {"user_id", "segment_name", "x", "y"}]
    options = ["segment", *(c for c in numeric if c.startswith("score: ")), *numeric[1:]]
    options = list(dict.fromkeys(options))
    colour = st.selectbox("Colour the map by", options, key="segment_colour")
    event = st.plotly_chart(
        segment_map_chart(points, colour),
        key="segment_map",
        on_select="rerun",
        selection_mode=("lasso", "box"),
    )
    picked = selected_user_ids(event)
    if picked:
        st.success(f"{len(picked):,} customers selected on the map.")
        name_col, save_col = st.columns([3, 1])
        name = name_col.text_input("Audience name", value="map_selection", key="audience_name")
        if save_col.button("Save as audience", key="save_audience"):
            try:
                saved = save_audience(ws, dataset, name, user_ids=picked, source="map selection")
                st.toast(f"Saved audience '{saved.name}' ({saved.size:,} customers, a fixed list).")
            except AudienceLabError as err:
                st.error(str(err))
    else:
        st.caption("Draw a lasso or a box on the map to save those customers as an audience.")
    columns = st.columns(2)
    for i, profile in enumerate(result.profiles):
        with columns[i % 2]:
            show_segment_card(profile)

with classic:
    rfm = ws.read_frame(dataset, "rfm")
    if rfm is None:
        st.info("The classic RFM view needs event or order data.")
    else:
        left, right = st.columns([3, 2])
        left.plotly_chart(rfm_groups_chart(rfm), key="rfm_groups")
        with right:
            for group, rule in RFM_RULES.items():
                st.markdown(f"**{group}**: {rule}")
        both = rfm.join(result.segments.select("user_id", "segment_name"), on="user_id")
        st.caption("How the learned segments spread over the classic RFM groups (customers):")
        st.dataframe(both.pivot("rfm_group", index="segment_name", values="user_id",
                                aggregate_function="len").fill_null(0))  # fmt: skip
