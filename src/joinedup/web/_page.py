"""A response body made once and sent many times, plain or gzip-compressed.

A dashboard page is the same for every user who asks for the same view, except for a
few hundred bytes: who is signed in and the sign-out form's CSRF token. :class:`Body`
keeps the bytes before and after that part, both as they are and compressed, so that a
request only compresses its own part and splices it in, instead of rendering and
compressing the whole page again (the unfiltered page is about ten times smaller
compressed).

How the splice stays one valid gzip member (RFC 1952): the member holds one DEFLATE
stream (RFC 1951), a sequence of blocks of which only the last is marked final. The head
is compressed ending with a sync flush, which ends its blocks on a byte boundary without
marking any final; the request's part is compressed the same way by a fresh compressor;
the tail by another fresh compressor, which marks its last block final. A compressor
refers back only to data it was given, so each piece decodes on its own and the pieces
read as one stream. The member ends with the CRC-32 of the whole page: continuing a CRC
over fixed bytes is linear over GF(2) in the value it starts from, so the tail's effect
on any starting value is worked out once, from 32 starting values, and applied to each
request's in 32 steps.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

#: The start of every gzip member joinedup sends: magic, DEFLATE, no flags, no time,
#: no extra flags, operating system unknown (RFC 1952, section 2.3).
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def _deflate(data: bytes, *, last: bool, level: int = 9) -> bytes:
    """Raw DEFLATE blocks for ``data`` from a fresh compressor: ending on a byte
    boundary with no final block, or ending the stream when ``last``."""
    c = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(data) + c.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


@dataclass(frozen=True)
class Body:
    """The bytes of a response around one part that each request fills in."""

    head: bytes
    tail: bytes
    _head_deflated: bytes
    _tail_deflated: bytes
    _head_crc: int
    _tail_crc: int
    #: How continuing the CRC over the tail changes each bit of the value it starts from.
    _tail_shift: tuple[int, ...]

    @classmethod
    def around(cls, head: bytes, tail: bytes = b"") -> Body:
        """A body that is ``head``, then a request's part, then ``tail``."""
        tail_crc = zlib.crc32(tail)
        shift = tuple(zlib.crc32(tail, 1 << bit) ^ tail_crc for bit in range(32))
        return cls(
            head,
            tail,
            _deflate(head, last=False),
            _deflate(tail, last=True),
            zlib.crc32(head),
            tail_crc,
            shift,
        )

    def plain(self, part: bytes = b"") -> bytes:
        """The body as it is, with ``part`` in its place."""
        return b"".join((self.head, part, self.tail))

    def gzip(self, part: bytes = b"") -> bytes:
        """The body as one gzip member, with ``part`` in its place."""
        start = zlib.crc32(part, self._head_crc)
        crc = self._tail_crc
        for bit in range(32):
            if start >> bit & 1:
                crc ^= self._tail_shift[bit]
        size = len(self.head) + len(part) + len(self.tail)
        return b"".join(
            (
                _GZIP_HEADER,
                self._head_deflated,
                _deflate(part, last=False, level=6) if part else b"",
                self._tail_deflated,
                crc.to_bytes(4, "little"),
                (size & 0xFFFFFFFF).to_bytes(4, "little"),
            )
        )


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether a request's ``Accept-Encoding`` header allows gzip (RFC 9110, section
    12.5.3): named with a weight above zero, or else allowed by ``*``."""
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, *params = (p.strip() for p in item.split(";"))
        weight = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if name:
            weights[name.lower()] = weight
    for name in ("gzip", "x-gzip", "*"):
        if name in weights:
            return weights[name] > 0
    return False
