"""Text from data shown as text: Markdown and Plotly escapes."""

from __future__ import annotations

from ui.safe_text import chart_text, chart_texts, plain

HOSTILE = "[x](http://evil) ![](http://beacon/x.png) <b>hi</b>"


def test_plain_escapes_every_markdown_and_html_character() -> None:
    assert plain(HOSTILE) == (
        r"\[x\]\(http\:\/\/evil\) \!\[\]\(http\:\/\/beacon\/x\.png\) \<b\>hi\<\/b\>"
    )
    assert plain("*bold* _it_ `code` $x$ # h") == r"\*bold\* \_it\_ \`code\` \$x\$ \# h"
    assert plain("Fashion & Co") == r"Fashion \& Co"
    assert plain("Kids 3-5") == r"Kids 3\-5"


def test_plain_keeps_words_and_flattens_lines() -> None:
    assert plain("Garden tools") == "Garden tools"
    assert plain("two\nlines\r\tand\x00nul") == "two lines andnul"
    assert plain(42) == "42"


def test_chart_text_escapes_the_tags_plotly_renders() -> None:
    assert chart_text(HOSTILE) == (
        "[x](http://evil) ![](http://beacon/x.png) &lt;b&gt;hi&lt;/b&gt;"
    )
    assert chart_text('<a href="http://evil">x</a>') == (
        "&lt;a href=&quot;http://evil&quot;&gt;x&lt;/a&gt;"
    )
    assert chart_texts(["a<br>b", "c"]) == ["a&lt;br&gt;b", "c"]
