"""One look for every chart: the theme's indigo for our figures, grey for peers and baselines.

``PRIMARY`` matches ``primaryColor`` in ``.streamlit/config.toml``; the RFM groups keep the same
colour on the Overview and Segments pages; ``SEGMENT_PALETTE`` tells up to 12 segments apart.
"""

from __future__ import annotations

__all__ = [
    "GAIN",
    "LOSS",
    "PALE",
    "PEER",
    "PRIMARY",
    "PRIMARY_BAND",
    "RFM_COLORS",
    "SEGMENT_PALETTE",
    "margin",
]

PRIMARY = "#4F46E5"  # indigo: our model, our numbers
PALE = "#A5B4FC"  # light indigo: partial periods, secondary series
PEER = "#9CA3AF"  # grey: baselines and the peer we compare with
PRIMARY_BAND = "rgba(79, 70, 229, 0.18)"  # intervals around a PRIMARY line
GAIN = "#15803D"  # green: profit, positive effects
LOSS = "#DC2626"  # red: losses, harm, rejected rows
RFM_COLORS = {
    "Champions": "#15803D",
    "Loyal": "#4F46E5",
    "Recent": "#0EA5E9",
    "Needs attention": "#F59E0B",
    "At risk": "#DC2626",
    "Inactive": "#9CA3AF",
}
SEGMENT_PALETTE = (
    "#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#EECA3B", "#B279A2", "#FF9DA6",
    "#9D755D", "#BAB0AC", "#1F77B4", "#2CA02C",
)  # fmt: skip


def margin(top: int = 10, left: int = 10, right: int = 10, bottom: int = 10) -> dict[str, int]:
    """Plotly layout margins: tight by default, room on top for a title when asked."""
    return {"l": left, "r": right, "t": top, "b": bottom}
