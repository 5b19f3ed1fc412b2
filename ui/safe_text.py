"""Text that came from data (names, categories, segment names, rules, reasons), shown as text.

A category called ``[x](http://evil) ![](http://beacon/x.png)`` must not become a live link or a
remote image. ``plain`` escapes every Markdown and HTML character for Streamlit's markdown
elements (titles, captions, ``st.markdown``, widget labels); ``chart_text`` escapes what Plotly
renders as HTML in labels, legends and hover text. Numbers and our own words need neither.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

__all__ = ["chart_text", "chart_texts", "plain"]

# every ASCII punctuation character CommonMark lets a backslash escape
_MARKDOWN = re.compile(r"([!-/:-@\[-`{-~])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def plain(value: object) -> str:
    """``value`` as literal text inside Streamlit markdown: no emphasis, links, images or HTML.

    Line breaks become spaces (a name is one line); control characters are dropped.
    """
    text = _CONTROL.sub("", str(value)).replace("\r", " ").replace("\n", " ").replace("\t", " ")
    return _MARKDOWN.sub(r"\\\1", text)


def chart_text(value: object) -> str:
    """``value`` as literal text in a Plotly label, legend entry or hover line (no tags, links)."""
    text = _CONTROL.sub("", str(value)).replace("\r", " ").replace("\n", " ")
    return html.escape(text, quote=True)


def chart_texts(values: Iterable[object]) -> list[str]:
    """``chart_text`` of each value (for a trace's ``customdata`` or tick labels)."""
    return [chart_text(v) for v in values]
