"""Reading text files: each common encoding is read right (detected with charset-normalizer and a
check that words do not mix scripts), the user can name the encoding, and the detector says when
it is unsure."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics.core.errors import IngestError
from analytics.ingest.pipeline import detect_file, ingest_file

# (codec, a customer name in a language written with it)
NAMES = [
    ("cp1252", "Müller"),
    ("latin-1", "José Muñoz"),
    ("cp1250", "Michał Żółć"),
    ("gbk", "王小明"),
    ("gb18030", "张伟"),
    ("big5", "陳大文"),
    ("shift_jis", "山田太郎"),
    ("utf-16", "Müller 王"),
    ("utf-16-le", "Müller 王"),
    ("utf-8", "Müller 王"),
]


def orders(name: str, rows: int = 40) -> str:
    lines = ["customer_id,recipient,order_date,amount"]
    lines += [f"c{i % 7},{name},2024-03-{1 + i % 28:02d} 10:00,{i}.50" for i in range(rows)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("codec", "name"), NAMES)
def test_each_encoding_is_read_right(tmp_path: Path, codec: str, name: str) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(orders(name).encode(codec))
    detection = detect_file(path)
    assert detection.preview.get_column("recipient")[0] == name
    assert detection.encoding_confidence is not None and detection.encoding_confidence >= 0.8
    result = ingest_file(path, detection=detection)
    assert result.report["rows_rejected"] == 0
    assert result.events.get_column("recipient").unique().to_list() == [name]


def test_windows_1252_is_not_read_as_chinese_or_cyrillic(tmp_path: Path) -> None:
    path = tmp_path / "kunden.csv"
    path.write_bytes(orders("Müller").encode("cp1252"))
    detection = detect_file(path)
    assert detection.encoding == "cp1252" and not detection.encoding_unsure
    assert any("cp1252" in w for w in detection.warnings)


def test_unsure_detection_is_flagged_and_the_user_can_choose(tmp_path: Path) -> None:
    """Turkish in cp1254 reads as plausible Western text in cp1252 too: unsure, and naming the
    encoding reads it right."""
    path = tmp_path / "siparis.csv"
    path.write_bytes(orders("Şükrü Yılmaz").encode("cp1254"))
    detection = detect_file(path)
    assert detection.encoding_unsure
    assert any("--encoding" in w for w in detection.warnings)
    chosen = detect_file(path, encoding="cp1254")
    assert chosen.encoding == "cp1254" and not chosen.encoding_unsure
    result = ingest_file(path, encoding="windows-1254")
    assert result.events.get_column("recipient")[0] == "Şükrü Yılmaz"


def test_unknown_encoding_name_is_an_ingest_error(tmp_path: Path) -> None:
    path = tmp_path / "o.csv"
    path.write_text(orders("Ann"))
    with pytest.raises(IngestError, match="not a text encoding we know"):
        detect_file(path, encoding="klingon-8")


def test_binary_file_is_refused_but_a_stray_nul_is_not_judged_binary(tmp_path: Path) -> None:
    binary = tmp_path / "photo.csv"
    binary.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(IngestError, match="binary data"):
        detect_file(binary)
    one_nul = tmp_path / "o.csv"
    one_nul.write_bytes(orders("Ann").encode().replace(b"Ann", b"A\x00nn", 1))
    assert detect_file(one_nul).columns == ["customer_id", "recipient", "order_date", "amount"]
