"""The page: one HTML file holding the figures, the page's style and script, and the chart
library, so that it opens from disk and fetches nothing.

The figures travel as JSON in a `<script type="application/json">` block with `<`, `>` and
`&` escaped, so no subject, branch or author name can end the block or be read as markup;
the page's script puts every text into the document as text. A Content-Security-Policy
in the page lets it load nothing from anywhere (only a served page may ask its own server
whether the ledger changed).
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from tokentag.core.errors import TokentagError

_MARKER = re.compile(r"<!--tokentag:(\w+)-->")
# What would end the library's <script> block early or change how it is parsed.
_UNSAFE_IN_SCRIPT = re.compile(r"</script|<!--", re.IGNORECASE)
_JSON_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


@dataclass(frozen=True)
class ChartLibrary:
    name: str
    version: str
    code: str
    license: str


def render(figures: dict[str, Any], live_version: str | None = None) -> str:
    """The page for `figures` (figures.gather). `live_version`: the page is served, and
    reloads itself when the server's version differs from this one."""
    library = chart_library()
    shown = {**figures, "live_version": live_version,
             "chart_library": f"{library.name} {library.version}" if library else None}
    parts = {
        "title": html.escape(f"tokentag · {figures['repository']}"),
        "style": _asset("page.css"),
        "figures": json.dumps(shown, separators=(",", ":")).translate(_JSON_ESCAPES),
        "chart_library": f"/*!\n{library.license}\n*/\n{library.code}" if library else "",
        "script": _asset("page.js"),
    }
    return _MARKER.sub(lambda found: parts[found.group(1)], _asset("page.html"))


@cache
def chart_library() -> ChartLibrary | None:
    """The Chart.js build fetched when tokentag was built, or None when the build could
    not fetch it (the page then shows its tables without charts)."""
    pin = json.loads(_asset("chart_library.json"))
    vendor = resources.files("tokentag.dashboard") / "vendor"
    try:
        code = (vendor / pin["file"].rsplit("/", 1)[-1]).read_text(encoding="utf-8")
        license_text = (vendor / f"{pin['npm']}.LICENSE.md").read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    if _UNSAFE_IN_SCRIPT.search(code) or "*/" in license_text:
        raise TokentagError(f"{pin['npm']} {pin['version']} cannot be inlined into a page")
    return ChartLibrary(pin["npm"], pin["version"], code, license_text)


@cache
def _asset(name: str) -> str:
    return (resources.files("tokentag.dashboard") / name).read_text(encoding="utf-8")
