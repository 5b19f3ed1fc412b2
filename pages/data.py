"""Data page: the ingest report of the current dataset, adding data, and managing datasets."""

import streamlit as st

from analytics.ingest.service import ingest_path
from ui import state
from ui.progress import progress_bar
from ui.widgets import (
    APPEND,
    NEW,
    discard_upload,
    show_append,
    show_attach,
    show_attach_result,
    show_dataset_manager,
    show_demo_loader,
    show_detection,
    show_encoding_choice,
    show_ingest_report,
    show_mapping_editor,
    show_profile,
    show_side_tables,
    show_stale_notice,
    show_upload,
    show_upload_action,
    showing_errors,
    source_words,
)

REPORT, ADD, MANAGE = "Report", "Add data", "Datasets"

st.title("Data")
if message := state.pop_flash():
    st.success(message, icon=":material/check_circle:")

ws = state.workspace()
name = state.dataset_name()
report_tab, add_tab, manage_tab = st.tabs(
    [REPORT, ADD, MANAGE], key=state.data_tab_key(), on_change="rerun"
)


def done(dataset: str, message: str) -> None:
    state.set_dataset(dataset)
    state.flash(message)
    state.open_data_tab(REPORT)
    st.rerun()


def ingest_new(pending: dict) -> None:
    choice = show_mapping_editor(pending, key="mapping")
    if choice.name and ws.has_dataset(choice.name):
        st.caption(f"This replaces the dataset '{choice.name}' and all it derived.")
    if choice.missing:
        st.caption(choice.missing)
    if st.button("Ingest", type="primary", disabled=not choice.ready):
        with showing_errors(), progress_bar("Ingesting") as progress:
            report = ingest_path(
                ws,
                pending["path"],
                name=choice.name,
                shape=choice.shape,
                mapping=choice.mapping,
                day_first=choice.day_first,
                encoding=pending.get("encoding"),
                progress=progress,
            )
            discard_upload()
            done(
                report["dataset"],
                f"Ingested {report['rows_accepted']:,} of {report['rows_read']:,} rows "
                f"into '{report['dataset']}'.",
            )


if report_tab.open:
    with report_tab:
        if name is None:
            st.info("No dataset yet. Upload a file or generate the demo store under **Add data**.")
        else:
            with showing_errors():
                info = ws.dataset(name)
                st.subheader(f"Ingest report: {name}")
                st.caption(f"Source: {source_words(info)} · shape: {info.shape}")
                show_stale_notice(ws, name)
                show_ingest_report(ws, info)
                st.subheader("Profile")
                show_profile(ws, info)
                show_side_tables(ws, name)

if add_tab.open:
    with add_tab:
        source = st.radio(
            "Where is the data?",
            ["Upload a file", "Use the demo store"],
            horizontal=True,
            key="data_source",
        )
        if source == "Use the demo store":
            if show_demo_loader(ws, key="demo") == "demo":
                done("demo", "The demo store is ready.")
        elif pending := show_upload(key="upload"):
            action = show_upload_action(ws, name, key="upload_action")
            if action in (NEW, APPEND):
                show_encoding_choice(pending, key="encoding")
                show_detection(pending["detection"])
            if action == NEW:
                ingest_new(pending)
            elif action == APPEND:
                if message := show_append(ws, pending, str(name), key="append"):
                    discard_upload()
                    done(str(name), message)
            elif attached := show_attach(ws, pending, str(name), action, key="attach"):
                show_attach_result(ws, attached)

if manage_tab.open:
    with manage_tab:
        if deleted := show_dataset_manager(ws, key="manage"):
            state.flash(f"Deleted '{deleted}' and everything derived from it.")
            st.rerun()
