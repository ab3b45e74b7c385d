"""A kept body sent plain or as one gzip member with a request's own part spliced in."""

from __future__ import annotations

import gzip
import os
import zlib

import pytest

from joinedup.web._page import Body, accepts_gzip

PAGE = ("<p>Café £12,345 – ünïcode</p>\n" * 4000).encode() + os.urandom(20_000)


@pytest.mark.parametrize(
    "part",
    [b"", b"<p>Signed in as <strong>ana</strong></p>", "Zoë".encode(), os.urandom(70_000)],
)
@pytest.mark.parametrize("cut", [0, 1, 5_000, len(PAGE)])
def test_the_spliced_member_is_the_whole_body(part: bytes, cut: int) -> None:
    body = Body.around(PAGE[:cut], PAGE[cut:])
    whole = PAGE[:cut] + part + PAGE[cut:]
    assert body.plain(part) == whole
    member = body.gzip(part)
    # gzip.decompress checks the member's CRC-32 and length as well as the data.
    assert gzip.decompress(member) == whole
    # One member, not several: a decoder that stops after the first loses nothing.
    one = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert one.decompress(member) == whole and one.eof and one.unused_data == b""


def test_the_kept_parts_are_compressed() -> None:
    body = Body.around(PAGE[:100], PAGE[100:])
    assert len(body.gzip(b"x")) < len(PAGE) / 2


def test_a_wrong_crc_would_be_caught() -> None:
    """The check above can fail: a member whose CRC is off by one bit is refused."""
    member = bytearray(Body.around(b"head", b"tail").gzip(b"part"))
    member[-8] ^= 1
    with pytest.raises(gzip.BadGzipFile, match="CRC"):
        gzip.decompress(bytes(member))


@pytest.mark.parametrize(
    ("header", "gzip_ok"),
    [
        ("gzip, deflate, br, zstd", True),
        ("GZIP; q=0.5", True),
        ("deflate, x-gzip", True),
        ("*", True),
        ("", False),
        ("br", False),
        ("identity", False),
        ("gzip;q=0", False),
        ("gzip;q=0, *", False),
        ("br, *;q=0", False),
        ("gzip;q=nonsense", False),
    ],
)
def test_gzip_is_sent_only_where_the_client_takes_it(header: str, gzip_ok: bool) -> None:
    assert accepts_gzip(header) is gzip_ok
