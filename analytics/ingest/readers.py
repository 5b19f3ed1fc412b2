"""Reading user files for ingest: sniff a sample, refuse hostile files early, open the rest lazily.

``sniff_file`` looks only at the first MiB (decompressed) of a file: format, compression,
encoding, delimiter, header and a sample frame of up to ``SAMPLE_ROWS`` rows. ``open_source``
then yields the whole file as a lazy frame of the source columns plus the physical line number of
each row; text that Polars cannot scan directly (gzip, zip, GBK, UTF-16) is transcoded once,
streaming, into a temporary UTF-8 file that lives as long as the ``with`` block.

Besides the workspace, this is the one core module that opens files: ingest has to read what the
user hands over.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import re
import shutil
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import polars as pl

from analytics.core.errors import IngestError
from analytics.ingest.encodings import Encoding, codec_name, detect_encoding

__all__ = [
    "EXTRA",
    "LINE",
    "SAMPLE_ROWS",
    "Sniff",
    "Source",
    "TextLayout",
    "open_source",
    "sniff_file",
]

SNIFF_BYTES = 1 << 20  # how much (decompressed) text the sniff looks at
SAMPLE_ROWS = 1000
MAX_EXPANSION = 200  # unpacked / packed size above which an archive is treated as a bomb
MAX_EXCEL_UNPACKED = 1 << 30  # an .xlsx whose parts unpack to more than this is refused
MAX_ARCHIVE_UNPACKED = 64 << 30
CHUNK = 4 << 20

LINE = "__line"  # physical line number of a row in the file (header = line 1)
EXTRA = "__extra"  # holds the first field beyond the expected ones: a ragged row
TEXT = "__text"  # the whole line, for whitespace-delimited files
_ROW = "__row"
WHITESPACE = " "  # delimiter marker: runs of spaces/tabs (CDNOW)

_DELIMITERS = (",", "\t", ";", "|")
_NUMBER_RE = re.compile(r"^[-+]?[\d.,]+(?:[eE][-+]?\d+)?$")
_EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")


@dataclass(frozen=True)
class TextLayout:
    """How a delimited text file is laid out."""

    compression: str | None  # gzip | zip | None
    member: str | None  # the file inside a zip archive
    encoding: str  # a Python codec name: utf-8, utf-8-sig, gb18030, utf-16 ...
    delimiter: str  # one of , \t ; | or WHITESPACE
    has_header: bool
    quoted: bool  # the sample holds quote characters (fields may span lines)
    confidence: float = 1.0  # how sure the encoding detection is, 0..1
    unsure: bool = False  # another likely encoding reads the sample differently


@dataclass(frozen=True)
class Sniff:
    """What a cheap look at the start of a file tells."""

    format: str  # csv | parquet | excel | jsonl
    columns: list[str]
    sample: pl.DataFrame  # up to SAMPLE_ROWS rows; strings for text, native types otherwise
    layout: TextLayout | None = None  # text files only
    compression: str | None = None
    member: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Source:
    """The whole file as a lazy frame: the source columns, ``LINE`` and, for text, ``EXTRA``."""

    lazy: pl.LazyFrame
    text: bool  # source columns are raw text (except those in ``typed``)
    raw_columns: list[str]  # the columns joined into a rejected row's ``raw`` text
    raw_separator: str
    typed: dict[str, pl.DataType] = field(default_factory=dict)  # columns parsed while scanning
    plain: Callable[[], Source] | None = None  # the same file with every column as text
    extra: bool = False  # the ``EXTRA`` column is there (else a ragged row fails the collect)
    # the physical lines holding fewer fields than the header (their missing fields would read
    # as empty ones at the end); a second, cheap pass, run only when a row could be one
    short_lines: Callable[[], pl.Series] | None = None


# --- sniffing -----------------------------------------------------------------------------------
def sniff_file(path: Path, *, encoding: str | None = None) -> Sniff:
    """Look at the start of ``path`` and describe it; ``IngestError`` for what we cannot read.

    ``encoding``: the user's choice for a text file (a Python codec name), else detected.
    """
    path = Path(path)
    if encoding is not None:
        encoding = codec_name(encoding)
    if not path.exists() or not path.is_file():
        raise IngestError(f"There is no file at '{path}'.")
    size = path.stat().st_size
    if size == 0:
        raise IngestError(f"'{path.name}' is empty.")
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"PAR1"):
        return _sniff_parquet(path)
    if magic.startswith(b"\xd0\xcf\x11\xe0"):  # OLE2: legacy .xls
        return _sniff_excel(path)
    if magic.startswith(b"PK\x03\x04"):
        return _sniff_zip(path, size, encoding)
    if magic.startswith(b"\x1f\x8b"):
        with gzip.open(path, "rb") as gz:
            try:
                head = gz.read(SNIFF_BYTES)
            except (OSError, EOFError) as err:
                raise IngestError(f"'{path.name}' is not a valid gzip file ({err}).") from None
        truncated = len(head) == SNIFF_BYTES
        return _sniff_text(path, head, truncated=truncated, compression="gzip", encoding=encoding)
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    return _sniff_text(path, head, truncated=size > SNIFF_BYTES, encoding=encoding)


def _sniff_parquet(path: Path) -> Sniff:
    try:
        lf = pl.scan_parquet(path)
        sample = lf.head(SAMPLE_ROWS).collect()
    except Exception as err:  # polars raises several kinds for broken files
        raise IngestError(f"'{path.name}' looks like Parquet but cannot be read ({err}).") from None
    return Sniff(format="parquet", columns=sample.columns, sample=sample)


def _check_zip(path: Path, zf: zipfile.ZipFile, *, limit: int) -> list[zipfile.ZipInfo]:
    """Refuse archives whose declared sizes say 'bomb' before anything is unpacked."""
    infos = [i for i in zf.infolist() if not i.is_dir()]
    if len(infos) > 10_000:
        raise IngestError(f"'{path.name}' holds {len(infos):,} files; that is not a data export.")
    unpacked = sum(i.file_size for i in infos)
    packed = max(sum(i.compress_size for i in infos), 1)
    ratio = unpacked / packed
    if unpacked > limit or (ratio > MAX_EXPANSION and unpacked > 16 << 20):
        raise IngestError(
            f"'{path.name}' would unpack to {unpacked / 1e6:,.0f} MB from {packed / 1e6:,.1f} MB "
            f"({ratio:,.0f}x): that looks like a zip bomb, so it was not opened. Export the data "
            "as CSV or Parquet instead."
        )
    return infos


def _sniff_zip(path: Path, size: int, encoding: str | None) -> Sniff:
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise IngestError(f"'{path.name}' is a damaged zip file.") from None
    with zf:
        names = {i.filename for i in zf.infolist()}
        if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
            _check_zip(path, zf, limit=MAX_EXCEL_UNPACKED)
            return _sniff_excel(path)
        if "content.xml" in names and "mimetype" in names:  # OpenDocument spreadsheet
            _check_zip(path, zf, limit=MAX_EXCEL_UNPACKED)
            return _sniff_excel(path)
        infos = _check_zip(path, zf, limit=MAX_ARCHIVE_UNPACKED)
        data = [
            i
            for i in infos
            if not i.filename.startswith(("__MACOSX/", ".")) and "/." not in i.filename
        ]
        if not data:
            raise IngestError(f"'{path.name}' is an empty zip archive.")
        member = max(data, key=lambda i: i.file_size)
        if len(data) > 1:
            warning = f"The archive holds {len(data)} files; read the largest, '{member.filename}'."
        else:
            warning = ""
        with zf.open(member) as fh:
            head = fh.read(SNIFF_BYTES)
    if head.startswith(b"PAR1"):
        raise IngestError("Parquet inside a zip archive is not supported: upload the .parquet.")
    sniff = _sniff_text(
        path,
        head,
        truncated=member.file_size > SNIFF_BYTES,
        compression="zip",
        member=member.filename,
        encoding=encoding,
    )
    if warning:
        sniff.warnings.insert(0, warning)
    return sniff


def _sniff_excel(path: Path) -> Sniff:
    try:
        import fastexcel

        reader = fastexcel.read_excel(str(path))
        sheet = reader.load_sheet(0, n_rows=SAMPLE_ROWS)
        sample = sheet.to_polars()
    except IngestError:
        raise
    except Exception as err:  # fastexcel raises its own error types
        raise IngestError(f"'{path.name}' looks like Excel but cannot be read ({err}).") from None
    warnings = []
    if len(reader.sheet_names) > 1:
        warnings.append(
            f"The workbook has {len(reader.sheet_names)} sheets; read the first, "
            f"'{reader.sheet_names[0]}'."
        )
    sample = sample.rename({c: _clean_name(c, i) for i, c in enumerate(sample.columns)})
    return Sniff(format="excel", columns=sample.columns, sample=sample, warnings=warnings)


def _encoding_warnings(found: Encoding) -> list[str]:
    if found.name in ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be"):
        return []
    sure = f"{found.confidence:.0%} sure"
    if found.unsure:
        return [
            f"The file is not UTF-8; it was read as {found.name} ({sure}). Check the preview: "
            "if names look wrong, choose the encoding (command line: --encoding NAME)."
        ]
    return [f"The file is not UTF-8; it was read as {found.name} ({sure})."]


def _check_text(name: str, text: str, *, truncated: bool) -> None:
    sample = text[:65536]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f")
    replaced = sample.count("\ufffd")
    if sample and (controls + replaced) / len(sample) > 0.02:
        raise IngestError(
            f"'{name}' holds binary data, not text: it is not a CSV, Excel, Parquet or JSON "
            "lines export. Check that you picked the right file."
        )
    if truncated and "\n" not in text:
        raise IngestError(
            f"'{name}' has no line break in its first {SNIFF_BYTES >> 20} MiB: it is one endless "
            "line, not a table. Export one record per line and try again."
        )


def _sniff_text(
    path: Path,
    head: bytes,
    *,
    truncated: bool,
    compression: str | None = None,
    member: str | None = None,
    encoding: str | None = None,
) -> Sniff:
    encoding_given = encoding is not None
    name = member or path.name
    found = Encoding(encoding, 1.0) if encoding else detect_encoding(head)
    encoding = found.name
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head, final=False)
    _check_text(name, text, truncated=truncated)
    warnings = _encoding_warnings(found) if not encoding_given else []
    lines = text.splitlines()
    if truncated and lines:
        lines = lines[:-1]  # the last line of a cut sample is incomplete
    lines = [ln for ln in lines if ln.strip()][: SAMPLE_ROWS + 1]
    if not lines:
        raise IngestError(f"'{name}' has no rows.")
    stripped = lines[0].lstrip()
    if stripped.startswith("{"):
        return _sniff_jsonl(name, lines, compression, member, found)
    if stripped.startswith("["):
        raise IngestError(
            f"'{name}' is a JSON array; export JSON lines (one object per line) or CSV instead."
        )
    delimiter = _sniff_delimiter(lines)
    rows = _split_rows(lines, delimiter)
    has_header = _looks_like_header(rows[0], rows[1:])
    sample = _sample_frame(rows, has_header=has_header)
    columns = sample.columns
    layout = TextLayout(
        compression=compression,
        member=member,
        encoding=encoding,
        delimiter=delimiter,
        has_header=has_header,
        quoted='"' in text,
        confidence=found.confidence,
        unsure=found.unsure,
    )
    return Sniff(
        format="csv",
        columns=columns,
        sample=sample,
        layout=layout,
        compression=compression,
        member=member,
        warnings=warnings,
    )


def _sample_frame(rows: list[list[str]], *, has_header: bool) -> pl.DataFrame:
    """The split sample rows as a frame of strings (empty fields null) under unique names."""
    if has_header:
        columns = [_clean_name(c, i) for i, c in enumerate(rows[0])]
        body = rows[1:]
    else:
        width = Counter(len(r) for r in rows).most_common(1)[0][0]
        columns = [f"column_{i + 1}" for i in range(width)]
        body = rows
    columns = _dedupe(columns)
    return pl.DataFrame(
        [
            [(r[j] if j < len(r) and r[j] != "" else None) for r in body]
            for j in range(len(columns))
        ],
        schema=dict.fromkeys(columns, pl.String),
        orient="col",
    )


def _sniff_jsonl(
    name: str, lines: list[str], compression: str | None, member: str | None, found: Encoding
) -> Sniff:
    try:
        sample = pl.read_ndjson("\n".join(lines[:SAMPLE_ROWS]).encode())
    except Exception as err:
        raise IngestError(f"'{name}' starts like JSON lines but cannot be read ({err}).") from None
    layout = TextLayout(
        compression, member, found.name, ",", True, False, found.confidence, found.unsure
    )
    return Sniff(
        format="jsonl",
        columns=sample.columns,
        sample=sample,
        layout=layout,
        compression=compression,
        member=member,
    )


def _count_outside_quotes(line: str, delimiter: str) -> int:
    if '"' not in line:
        return line.count(delimiter)
    count, quoted = 0, False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == delimiter and not quoted:
            count += 1
    return count


def _sniff_delimiter(lines: list[str]) -> str:
    """The delimiter splitting most lines into the same number of fields (ties: more fields)."""
    best: tuple[tuple[float, int], str] | None = None
    for delimiter in _DELIMITERS:
        counts = Counter(_count_outside_quotes(ln, delimiter) for ln in lines)
        fields, hits = counts.most_common(1)[0]
        consistency = hits / len(lines)
        if fields > 0 and consistency >= 0.8:
            score = (round(consistency, 2), fields)
            if best is None or score > best[0]:
                best = (score, delimiter)
    if best is not None:
        return best[1]
    widths = Counter(len(ln.split()) for ln in lines)
    width, hits = widths.most_common(1)[0]
    if width >= 2 and hits / len(lines) >= 0.6:
        return WHITESPACE
    return ","  # a single column


def _split_rows(lines: list[str], delimiter: str) -> list[list[str]]:
    if delimiter == WHITESPACE:
        return [ln.split() for ln in lines]
    return [[f.strip() for f in row] for row in csv.reader(lines, delimiter=delimiter)]


def _is_number(value: str) -> bool:
    return bool(_NUMBER_RE.match(value.strip().lstrip("$£€¥￥")))


def _looks_like_header(first: list[str], rest: list[list[str]]) -> bool:
    """Whether the first row names the columns (see the tests for the cases it settles)."""
    from analytics.core.schema import COLUMN_SYNONYMS

    known = {s for names in COLUMN_SYNONYMS.values() for s in names}
    if any(normalize_name(f) in known for f in first):
        return True
    if any(_is_number(f) for f in first if f):
        return False
    if not rest:
        return True
    for j, name in enumerate(first):
        body = [r[j] for r in rest if j < len(r) and r[j]]
        if body and sum(map(_is_number, body)) >= 0.8 * len(body):
            return True  # a numeric column under a non-numeric first value
        if name and name in body:
            return False  # the first value recurs below: it is data
    return True


def normalize_name(name: str) -> str:
    """Lower case, keeping only letters, digits and CJK: 'Customer ID' -> 'customerid'."""
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


def _clean_name(name: object, index: int) -> str:
    text = str(name).strip().strip("\ufeff") if name is not None else ""
    return text or f"column_{index + 1}"


def _dedupe(names: list[str]) -> list[str]:
    seen: Counter[str] = Counter()
    out = []
    for name in names:
        seen[name] += 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


# --- opening the whole file ----------------------------------------------------------------------
@contextlib.contextmanager
def open_source(
    path: Path, sniff: Sniff, dtypes: dict[str, pl.DataType] | None = None
) -> Iterator[Source]:
    """Yield the whole file as a lazy ``Source``; temporary files live until the block ends.

    ``dtypes`` asks a delimited text file to parse those columns while scanning and to read it
    as strict UTF-8 (the fast path); a value that does not parse, or a byte that is not UTF-8,
    then fails the collect, and ``Source.plain`` gives the all-text, lossy scan to retry with.
    """
    path = Path(path)
    if sniff.format == "parquet":
        lf = pl.scan_parquet(path).with_row_index(_ROW)
        yield _typed_source(lf, sniff.columns, offset=1)
        return
    if sniff.format == "excel":
        yield _typed_source(_read_excel(path).lazy().with_row_index(_ROW), sniff.columns, offset=2)
        return
    layout = sniff.layout
    assert layout is not None
    with tempfile.TemporaryDirectory(prefix="audiencelab-ingest-") as tmp:
        text_path = _plain_utf8(path, layout, Path(tmp))
        if sniff.format == "jsonl":
            lf = pl.scan_ndjson(text_path, infer_schema_length=SAMPLE_ROWS, row_index_name=_ROW)
            yield _typed_source(lf, sniff.columns, offset=1)
        elif layout.delimiter == WHITESPACE:
            yield _whitespace_source(text_path, layout, sniff.columns)
        else:
            yield _delimited_source(text_path, layout, sniff.columns, dtypes or {})


def _typed_source(lf: pl.LazyFrame, columns: list[str], *, offset: int) -> Source:
    lf = lf.with_columns((pl.col(_ROW).cast(pl.Int64) + offset).alias(LINE)).drop(_ROW)
    return Source(lazy=lf, text=False, raw_columns=columns, raw_separator=",")


def _read_excel(path: Path) -> pl.DataFrame:
    import fastexcel

    try:
        frame = fastexcel.read_excel(str(path)).load_sheet(0).to_polars()
    except Exception as err:
        raise IngestError(f"'{path.name}' cannot be read as Excel ({err}).") from None
    return frame.rename({c: _clean_name(c, i) for i, c in enumerate(frame.columns)})


def _delimited_source(
    text_path: Path, layout: TextLayout, columns: list[str], dtypes: dict[str, pl.DataType]
) -> Source:
    # the typed fast path has no EXTRA column (a column of nulls costs 16 bytes a row): a row
    # with surplus fields fails its collect, and the plain rescan reports that row
    schema: dict[str, pl.DataType] = {c: dtypes.get(c, pl.String()) for c in columns}
    if not dtypes:
        schema[EXTRA] = pl.String()
    lf = pl.scan_csv(
        text_path,
        has_header=False,
        skip_lines=int(layout.has_header),
        separator=layout.delimiter,
        schema=schema,
        missing_columns="insert",
        truncate_ragged_lines=not dtypes,
        # strict UTF-8 is cheaper to scan than lossy; the typed fast path has a fallback anyway
        encoding="utf8" if dtypes else "utf8-lossy",
        row_index_name=_ROW,
    )
    first_line = 1 + int(layout.has_header)
    line = pl.col(_ROW).cast(pl.Int64) + first_line
    if layout.quoted:  # a quoted field may hold line breaks: count them into later line numbers
        breaks = pl.sum_horizontal(
            pl.col(c).str.count_matches("\n", literal=True).fill_null(0)
            for c in columns
            if c not in dtypes
        )
        line = line + breaks.cum_sum() - breaks
    lf = lf.with_columns(line.alias(LINE)).drop(_ROW)
    plain = (lambda: _delimited_source(text_path, layout, columns, {})) if dtypes else None
    return Source(
        lazy=lf,
        text=True,
        raw_columns=columns,
        raw_separator=layout.delimiter,
        typed=dict(dtypes),
        plain=plain,
        extra=not dtypes,
        short_lines=lambda: _short_lines(text_path, layout, len(columns)),
    )


def _short_lines(text_path: Path, layout: TextLayout, width: int) -> pl.Series:
    """Physical line numbers (as ``LINE`` counts them) of non-blank lines with fewer than
    ``width`` fields. Delimiters inside quotes are not counted; a line with an odd number of
    quotes (a field spanning lines) is not judged."""
    lines = pl.scan_csv(
        text_path,
        has_header=False,
        skip_lines=int(layout.has_header),
        separator="\x1f",  # a control character: rows holding one are rejected anyway
        quote_char=None,
        schema={TEXT: pl.String},
        truncate_ragged_lines=True,
        encoding="utf8-lossy",
        row_index_name=_ROW,
    )
    text = pl.col(TEXT)
    outside, judged = text, pl.lit(True)
    if layout.quoted:
        outside = text.str.replace_all(r'"[^"]*"', "")
        judged = text.str.count_matches('"', literal=True) % 2 == 0
    fields = outside.str.count_matches(layout.delimiter, literal=True) + 1
    short = text.is_not_null() & (text.str.strip_chars() != "") & judged & (fields < width)
    line = pl.col(_ROW).cast(pl.Int64) + 1 + int(layout.has_header)
    return lines.filter(short).select(line.alias(LINE)).collect(engine="streaming").to_series()


def _whitespace_source(text_path: Path, layout: TextLayout, columns: list[str]) -> Source:
    pattern = r"^\s*" + r"\s+".join([r"(\S+)"] * len(columns)) + r"\s*$"
    lf = pl.scan_csv(
        text_path,
        has_header=False,
        skip_lines=int(layout.has_header),
        separator="\x00",
        quote_char=None,
        schema={TEXT: pl.String},
        encoding="utf8-lossy",
        row_index_name=_ROW,
    )
    fields = pl.col(TEXT).str.extract_groups(pattern)
    blank = pl.col(TEXT).is_null() | (pl.col(TEXT).str.strip_chars() == "")
    lf = lf.select(
        *[fields.struct.field(str(i + 1)).alias(c) for i, c in enumerate(columns)],
        # a line that does not split into exactly len(columns) fields is ragged
        pl.when(fields.struct.field("1").is_null() & ~blank)
        .then(pl.col(TEXT))
        .otherwise(None)
        .alias(EXTRA),
        (pl.col(_ROW).cast(pl.Int64) + 1 + int(layout.has_header)).alias(LINE),
        pl.col(TEXT).alias("__raw_text"),
    )
    return Source(lazy=lf, text=True, raw_columns=["__raw_text"], raw_separator=" ", extra=True)


def _open_stream(path: Path, layout: TextLayout) -> contextlib.AbstractContextManager[IO[bytes]]:
    if layout.compression == "gzip":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if layout.compression == "zip":
        zf = zipfile.ZipFile(path)
        assert layout.member is not None
        return _closing_member(zf, layout.member)
    return open(path, "rb")


@contextlib.contextmanager
def _closing_member(zf: zipfile.ZipFile, member: str) -> Iterator[IO[bytes]]:
    with zf, zf.open(member) as fh:
        yield fh


def _plain_utf8(path: Path, layout: TextLayout, tmp: Path) -> Path:
    """``path`` itself when Polars can scan it, else a streamed UTF-8 copy in ``tmp``."""
    if layout.compression is None and layout.encoding in ("utf-8", "utf-8-sig"):
        return path
    packed = path.stat().st_size
    limit = max(MAX_EXPANSION * packed, 1 << 30)
    free = shutil.disk_usage(tmp).free
    out = tmp / "data.utf8"
    decoder = None
    if layout.encoding not in ("utf-8", "utf-8-sig"):
        decoder = codecs.getincrementaldecoder(layout.encoding)(errors="replace")
    written = 0
    with _open_stream(path, layout) as src, open(out, "wb") as dst:
        while True:
            try:
                chunk = src.read(CHUNK)
            except (OSError, EOFError, zipfile.BadZipFile) as err:
                raise IngestError(f"'{path.name}' is damaged: {err}.") from None
            if not chunk:
                break
            data = decoder.decode(chunk).encode("utf-8") if decoder else chunk
            written += len(data)
            if written > limit or written > free - (256 << 20):
                raise IngestError(
                    f"'{path.name}' unpacks to more than {min(limit, free) / 1e9:,.1f} GB; it "
                    "looks like a compression bomb or is too large for this machine's disk."
                )
            dst.write(data)
        if decoder:
            dst.write(decoder.decode(b"", final=True).encode("utf-8"))
    return out
