"""Segments page: the customer map, segment cards, and the classic RFM view beside them."""

from __future__ import annotations

import streamlit as st

from analytics.core.errors import AudienceLabError
from models.campaigns.service import save_audience
from models.segments.service import MIN_GROUP_SIZE, RFM_RULES, SegmentSpec, run_segmentation
from ui import state
from ui.cache import cached_segmentation, classic_rfm, segment_map, segmentation_stamp
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
stamp = segmentation_stamp(ws, dataset)

with st.expander("Segment settings", expanded=stamp is None):
    auto = st.toggle("Choose the number of segments automatically", value=True)
    k = None if auto else st.slider("Number of segments", 2, 12, 6)
    if st.button("Find segments", type="primary", key="run_segments"):
        try:
            with progress_bar("Finding segments") as report:
                run_segmentation(ws, dataset, SegmentSpec(k=k), progress=report)
            st.rerun()
        except AudienceLabError as err:
            st.error(str(err))

result = cached_segmentation(ws, dataset, fingerprint, stamp) if stamp else None
if stamp is None or result is None:
    st.info(
        "No segments yet for this dataset. Press **Find segments**: AudienceLab learns a profile "
        "of every customer from their behaviour, draws them on a map and groups them."
    )
    st.stop()

st.caption(result_caption(result))
learned, classic = st.tabs(["Learned segments", "Classic RFM"])
with learned:
    view = segment_map(ws, dataset, fingerprint, stamp)
    choices = {c.column: c for c in view.colours} if view else {}
    colour = st.selectbox(
        "Colour the map by", list(choices), format_func=lambda c: choices[c].label,
        key="segment_colour",
    )  # fmt: skip
    if view is not None and colour is not None:
        event = st.plotly_chart(
            segment_map_chart(view.points, choices[colour]),
            key="segment_map",
            on_select="rerun",
            selection_mode=("lasso", "box"),
        )
        picked = selected_user_ids(event)
    else:
        picked = []
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
            show_segment_card(profile, MIN_GROUP_SIZE)

with classic:
    rfm = classic_rfm(ws, dataset, fingerprint, stamp)
    if rfm is None:
        st.info("The classic RFM view needs event or order data.")
    else:
        left, right = st.columns([3, 2])
        left.plotly_chart(rfm_groups_chart(rfm.groups), key="rfm_groups")
        with right:
            for group, rule in RFM_RULES.items():
                st.markdown(f"**{group}**: {rule}")
        st.caption("How the learned segments spread over the classic RFM groups (customers):")
        st.dataframe(rfm.by_segment, hide_index=True)
