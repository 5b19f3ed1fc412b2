"""Text encodings: which one a file is written in (``detect_encoding``) and the user's choice.

BOMs and UTF-16 are known by their bytes and UTF-8 by decoding strictly; otherwise
charset-normalizer proposes, and among the single-byte code pages the one whose words read as
words wins (the library's 'chaos' tells Windows-1252 from Cyrillic or Central European poorly on
short fields full of digits and currency signs). A tie that reads differently is 'unsure': the
Data page then offers a choice and the command line takes ``--encoding``.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass

from analytics.core.errors import IngestError

__all__ = ["Encoding", "codec_name", "detect_encoding"]


def codec_name(name: str) -> str:
    """The Python codec name for a user's encoding choice ('GBK', 'windows-1252', 'utf8')."""
    try:
        return codecs.lookup(name.strip()).name
    except LookupError:
        raise IngestError(
            f"'{name}' is not a text encoding we know; use a name like utf-8, cp1252, cp1250, "
            "gbk, big5, shift_jis or utf-16."
        ) from None


@dataclass(frozen=True)
class Encoding:
    """A detected (or chosen) encoding and how sure the detection is."""

    name: str  # a Python codec name
    confidence: float  # 0..1
    unsure: bool = False


# the encodings shop exports come in, besides UTF-8/16: Western and Central European Windows,
# Cyrillic, Turkish, simplified and traditional Chinese, Japanese, Korean
_CANDIDATES = ["cp1252", "cp1250", "cp1251", "cp1254", "gb18030", "big5", "cp932", "euc_kr"]
_DETECT_BYTES = 256 << 10


def detect_encoding(head: bytes) -> Encoding:
    """BOMs and UTF-16 by their bytes, then strict UTF-8, then charset-normalizer among the
    ``_CANDIDATES`` (its confidence: 1 - its 'chaos' of the decoded sample)."""
    if head.startswith(codecs.BOM_UTF8):
        return Encoding("utf-8-sig", 1.0)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return Encoding("utf-16", 1.0)
    probe = head[:4096]
    if len(probe) >= 4:
        even, odd = probe[0::2].count(0), probe[1::2].count(0)
        if odd > len(probe) // 4 and even == 0:
            return Encoding("utf-16-le", 1.0)
        if even > len(probe) // 4 and odd == 0:
            return Encoding("utf-16-be", 1.0)
    if head.count(0) > max(len(head) // 100, 1):  # a NUL here and there rejects its row only
        raise IngestError(
            "This file holds binary data, not text: it is not a CSV, Excel, Parquet or JSON "
            "lines export. Check that you picked the right file."
        )
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return _guess_encoding(head[:_DETECT_BYTES])
    return Encoding("utf-8", 1.0)


def _guess_encoding(head: bytes) -> Encoding:
    """charset-normalizer's choice for multi-byte (CJK) text; among the single-byte code pages
    the one whose words do not mix scripts ('Mьller' is Windows-1252 read as Cyrillic), since
    the library's 'chaos' tells those apart poorly on short fields full of digits and '€'."""
    import charset_normalizer

    matches = charset_normalizer.from_bytes(head, cp_isolation=_CANDIDATES)
    best = matches.best()
    if best is not None and codecs.lookup(best.encoding).name not in _SINGLE_BYTE:
        text = str(best)
        rivals = [
            m for m in matches if m.encoding != best.encoding and m.chaos <= best.chaos + 0.05
        ]
        unsure = best.chaos > 0.3 or any(str(m) != text for m in rivals)
        return Encoding(codecs.lookup(best.encoding).name, round(1.0 - best.chaos, 2), unsure)
    decoded = {}
    others = [codecs.lookup(m.encoding).name for m in matches]
    # in order of preference when they read equally well; multi-byte ones the library saw after
    for name in dict.fromkeys([*_SINGLE_BYTE, *others]):
        try:
            decoded[name] = head.decode(name)
        except UnicodeDecodeError:
            continue
    if not decoded:
        return Encoding("cp1252", 0.0, unsure=True)
    plausible = {name: _plausible_share(text) for name, text in decoded.items()}
    top = max(plausible.values())
    tied = [name for name, share in plausible.items() if share == top]
    chosen = tied[0]
    unsure = top < 0.9 or any(decoded[name] != decoded[chosen] for name in tied)
    return Encoding(chosen, round(top, 2), unsure)


_SINGLE_BYTE = ("cp1252", "cp1250", "cp1251", "cp1254")
_WORD = re.compile(r"[^\s,;|\t\"']*[^\x00-\x7f][^\s,;|\t\"']*")
_EDGES = "\"'.,;:!?()[]{}<>|/\\-_=+*#%&@€$£¥0123456789"


def _plausible_share(text: str) -> float:
    """Of the distinct words holding a non-ASCII character, the share that read like words:
    one script ('Mьller' mixes two), no symbol after a letter ('Micha³'), and not only
    accented Latin letters ('Ìîñêâà' is Cyrillic read as Western)."""
    words = {w.strip(_EDGES) for w in _WORD.findall(text)}
    words = {w for w in words if w and not w.isascii()}
    if not words:
        return 1.0
    return 1.0 - sum(1 for w in words if not _reads_like_a_word(w)) / len(words)


def _reads_like_a_word(word: str) -> bool:
    letters = [ch for ch in word if ch.isalpha()]
    scripts = {unicodedata.name(ch, "?").split(" ")[0] for ch in letters}
    if len(scripts) > 1:
        return False
    if any(not ch.isascii() and not ch.isalpha() for ch in word[1:]):
        return False
    accented = sum(1 for ch in letters if not ch.isascii())
    return not (scripts == {"LATIN"} and len(letters) >= 5 and accented == len(letters))
