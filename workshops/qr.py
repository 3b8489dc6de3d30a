"""The join URL as a QR code, drawn on the server as inline SVG (segno): no image request,
no third party, sharp on a projector and on paper."""

from __future__ import annotations

import segno


def qr_svg(url: str, *, scale: int = 8, title: str = "") -> str:
    # Error correction at least M (segno raises it while the symbol keeps its size): a
    # projector's washed-out light still reads; a quiet zone of 4 modules, as the standard asks.
    return segno.make(url, error="m", micro=False).svg_inline(
        scale=scale, border=4, dark="#000", light="#fff", title=title or None, svgclass="qr", omitsize=False
    )
