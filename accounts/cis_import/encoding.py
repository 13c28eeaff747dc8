"""Which text encoding a legacy CIS file is in, decided before any row of it loads.

A CIS export is UTF-8 (with or without a byte-order mark) or, from older Windows systems, Windows-1252
or Latin-1. Reading one as the other either fails half-way through the load (the import used to commit
1,000 of 1,200 members, then stop with a ``UnicodeDecodeError`` and a byte offset) or, worse, stores
mojibake ("JosÃ©"). So the whole file is decoded once up front, as a stream, before anything loads:

* given ``--encoding``, the file must decode with it, every byte, or it is refused;
* otherwise UTF-8 (a BOM is dropped) if every byte decodes as UTF-8; else the encoding charset-normalizer
  detects, accepted only if it is one of the single-byte Western encodings CIS exports use, or
  Windows-1252 when every non-ASCII character reads in it as a letter or Western punctuation (anything
  else is refused: guessing further is how mojibake gets stored);
* a file that decodes as Windows-1252 but reads like UTF-8 decoded as Windows-1252 ("Ã©") mixes
  encodings and is refused too.

Refusals are ``EncodingRefused`` naming the file and the line of the first byte that does not decode;
never the bytes' text.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from pathlib import Path

from charset_normalizer import from_bytes

_CHUNK = 1 << 20
_SAMPLE = 1 << 20
UTF8 = "utf-8"
UTF8_BOM = "utf-8-sig"
# What charset-normalizer may answer for a Western single-byte export, and what the file is read as.
_WESTERN = {"cp1252": "cp1252", "windows-1252": "cp1252", "latin_1": "latin-1", "iso8859_15": "iso8859-15"}
# UTF-8's two-byte sequences for U+00C0..U+00FF read as Windows-1252: "Ã" or "Â" and a continuation byte.
_MOJIBAKE = re.compile("[\u00c2\u00c3][\u0080-\u00bf\u2018-\u203a\u20ac\u0152\u0153\u0160\u0161\u0178\u017d\u017e]")


class EncodingRefused(ValueError):
    """The file cannot be read as text without guessing: names the file and the line, never the text."""

    def __init__(self, message: str, line: int = 0):
        super().__init__(message)
        self.line = line


def _line_of(path: Path, offset: int) -> int:
    """The 1-based line holding byte ``offset``."""
    line, done = 1, 0
    with path.open("rb") as handle:
        while done < offset:
            chunk = handle.read(min(_CHUNK, offset - done))
            if not chunk:
                break
            line += chunk.count(b"\n")
            done += len(chunk)
    return line


def _first_undecodable(path: Path, encoding: str) -> int | None:
    """The offset of the first byte ``encoding`` cannot decode, or ``None`` if the whole file decodes."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    done = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                return done + exc.start
            if not chunk:
                return None
            done += len(chunk)


def _mojibake_line(path: Path, encoding: str) -> int | None:
    with path.open(encoding=encoding, newline="") as handle:
        for number, line in enumerate(handle, start=1):
            if _MOJIBAKE.search(line):
                return number
    return None


def detect_encoding(path: Path, given: str | None = None) -> str:
    """The encoding to read ``path`` with (a Python codec name). Raises ``EncodingRefused``."""
    name = path.name
    if given:
        try:
            codec = codecs.lookup(given).name
        except LookupError:
            raise EncodingRefused(f"{name}: --encoding {given} is not an encoding Python knows.") from None
        codec = UTF8_BOM if codec == UTF8 else codec
        bad = _first_undecodable(path, codec)
        if bad is not None:
            line = _line_of(path, bad)
            raise EncodingRefused(
                f"{name} line {line}: not valid {given} (the byte at offset {bad}); "
                "nothing was loaded. Check the export's encoding, or run without --encoding to detect it.",
                line,
            )
        return codec
    with path.open("rb") as handle:
        head = handle.read(_SAMPLE)
    if head.startswith(codecs.BOM_UTF8):
        bad = _first_undecodable(path, UTF8_BOM)
        if bad is None:
            return UTF8_BOM
        line = _line_of(path, bad)
        raise EncodingRefused(
            f"{name} line {line}: the file starts with a UTF-8 byte-order mark but is not "
            f"valid UTF-8 (the byte at offset {bad}); nothing was loaded. Mixed encodings: re-export the file.",
            line,
        )
    bad = _first_undecodable(path, UTF8)
    if bad is None:
        return UTF8
    return _single_byte(path, bad, head)


_WESTERN_PUNCTUATION = frozenset("\u00a0‘’‚“”„–—…•°·½¼¾§¶©®™€«»¿¡")


def _reads_as_western(path: Path) -> bool:
    """charset-normalizer can miss short or repetitive files; a file every non-ASCII character of which
    reads, in Windows-1252, as a letter or the punctuation of Western text is accepted as Windows-1252."""
    try:
        with path.open(encoding="cp1252", newline="") as handle:
            while chunk := handle.read(_CHUNK):
                for char in set(chunk):
                    if char >= "\x80" and not (
                        unicodedata.category(char).startswith("L") or char in _WESTERN_PUNCTUATION
                    ):
                        return False
    except UnicodeDecodeError:
        return False
    return True


def _single_byte(path: Path, bad: int, head: bytes) -> str:
    name = path.name
    # The first of charset-normalizer's candidates (best first) that could be a Western single-byte
    # encoding: for the letters a CIS holds (é, ñ, ü) its answer is often cp1250, which reads them alike.
    guess = next(
        (
            _WESTERN[name]
            for match in from_bytes(head)
            for name in (match.encoding, *match.could_be_from_charset)
            if name in _WESTERN
        ),
        None,
    )
    if guess is None and _reads_as_western(path):
        guess = "cp1252"
    if guess is None:
        line = _line_of(path, bad)
        raise EncodingRefused(
            f"{name} line {line}: not valid UTF-8 and not recognisably Windows-1252 or Latin-1 "
            f"(the byte at offset {bad}); nothing was loaded. Give the encoding with --encoding.",
            line,
        )
    if guess == "cp1252" and _first_undecodable(path, "cp1252") is not None:
        guess = "latin-1"  # bytes Windows-1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D)
    mixed = _mojibake_line(path, guess)
    if mixed is not None:
        raise EncodingRefused(
            f"{name} line {mixed}: the file mixes UTF-8 and {guess} text (UTF-8 read as {guess} here); "
            "nothing was loaded. Re-export it in one encoding, or give it with --encoding.",
            mixed,
        )
    return guess
