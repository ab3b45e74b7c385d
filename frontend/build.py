"""Copy the built front-end files joinedup serves and embeds into the package.

GOV.UK Frontend's compiled stylesheet refers to the GDS Transport font and the crown
crest by absolute URL. Both are for services on GOV.UK domains only, and a report must
open offline with no requests at all, so the font faces and image URLs are removed: text
falls back to the stylesheet's own Arial/sans-serif stack.

    python frontend/build.py    # after `npm ci --prefix frontend`
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).parent
DIST = HERE / "node_modules" / "govuk-frontend" / "dist" / "govuk"
STATIC = HERE.parent / "src" / "joinedup" / "web" / "static"


def main() -> int:
    css = DIST / "govuk-frontend.min.css"
    if not css.exists():
        print(f"{css} is missing: run `npm ci --prefix frontend` first", file=sys.stderr)
        return 1
    STATIC.mkdir(parents=True, exist_ok=True)
    text = css.read_text(encoding="utf-8")
    text = re.sub(r"@font-face\{[^}]*\}", "", text)
    text = re.sub(r"url\([^)]*\)", "none", text)
    text = re.sub(r"/\*# sourceMappingURL=[^*]*\*/", "", text)
    (STATIC / "govuk-frontend.min.css").write_text(text, encoding="utf-8")
    js = (DIST / "govuk-frontend.min.js").read_text(encoding="utf-8")
    js = re.sub(r"//# sourceMappingURL=\S+", "", js)
    (STATIC / "govuk-frontend.min.js").write_text(js, encoding="utf-8")
    # The package ships its licence (MIT) only in its metadata; record where it came from.
    meta = (HERE / "node_modules" / "govuk-frontend" / "package.json").read_text("utf-8")
    (STATIC / "govuk-frontend.SOURCE").write_text(
        "Built from the govuk-frontend npm package (MIT licence) by frontend/build.py.\n"
        + re.search(r'"version":\s*"([^"]+)"', meta).group(0)  # type: ignore[union-attr]
        + "\n",
        encoding="utf-8",
    )
    print(f"front-end files written to {STATIC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
