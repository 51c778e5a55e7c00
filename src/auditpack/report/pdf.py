"""The PDF report: the report model laid out by a Jinja2 template and printed by WeasyPrint.

Typical use::

    model = build_model(results=results, frameworks=assessments, meta=meta)
    stats = render_pdf(model, out / "report.pdf", generated_at=meta.generated_at)

The output is PDF/A-3b, the archival profile: the report an auditor files stays readable and
self-contained (fonts embedded, sRGB output intent, XMP metadata naming the standard), and
PDF/A-3 admits the PAdES signature the package adds later. PDF/UA-1 was tried too: WeasyPrint
then writes a structure tree and the PDF/UA marker but does not enforce the standard's rules,
no validator here could confirm conformance, and the tagging pass added about a fifth to the
render time of a large report (against a 20-second budget). The document still carries what
readers rely on: language, title, bookmarks, and a text alternative for every chart.

The same model and `generated_at` give a byte-identical file: the document dates come from
`generated_at` (never the clock), WeasyPrint derives the file identifier from the content,
charts are rendered deterministically (see `report.charts`), and `SOURCE_DATE_EPOCH` is set to
`generated_at` while writing, because the font subsetter stamps the embedded fonts' `head`
table with the current time unless that variable says otherwise.
"""

from __future__ import annotations

import base64
import gc
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

import jinja2
import weasyprint

from auditpack.report.charts import ChartData, describe, render_svg
from auditpack.report.model import ReportModel

PDF_VARIANT = "pdf/a-3b"
TEMPLATE = "report.html.j2"
STYLESHEET = "report.css"

# SOURCE_DATE_EPOCH is process-wide: two reports written at once must not see each other's.
_EPOCH_LOCK = threading.Lock()
# The garbage collector is process-wide too: it stays paused while any render runs.
_GC_LOCK = threading.Lock()
_gc_renders = 0
_gc_was_enabled = False


@dataclass(frozen=True)
class PdfStats:
    """What rendering produced: the page count and the wall-clock seconds it took."""

    pages: int
    seconds: float


def template_dir() -> Path:
    """The folder holding the report template and stylesheet.

    In a source checkout that is the repository's top-level `templates/`; an installed wheel
    carries the same files as package data under `auditpack/_data/templates`.
    """
    checkout = Path(__file__).resolve().parents[3] / "templates"
    if (checkout / TEMPLATE).is_file():
        return checkout
    return Path(str(files("auditpack").joinpath("_data", "templates")))


def render_html(model: ReportModel, *, generated_at: datetime) -> str:
    """The report as HTML (autoescaped: names from the API can never become markup)."""
    environment = _environment(template_dir())
    return environment.get_template(TEMPLATE).render(
        m=model, created=_w3c(generated_at))


def render_pdf(model: ReportModel, path: Path, *, generated_at: datetime) -> PdfStats:
    """Write the report to `path` as PDF/A-3b and return its page count and render time."""
    started = time.perf_counter()
    with _gc_paused():
        html = render_html(model, generated_at=generated_at)
        folder = template_dir()
        fetcher = weasyprint.URLFetcher(allowed_protocols=["data"])  # charts only, no network
        css = weasyprint.CSS(string=(folder / STYLESHEET).read_text(encoding="utf-8"),
                             url_fetcher=fetcher)
        options = {"pdf_variant": PDF_VARIANT}
        document = weasyprint.HTML(string=html, base_url=str(folder),
                                   url_fetcher=fetcher).render(stylesheets=[css], **options)
        path.parent.mkdir(parents=True, exist_ok=True)
        with _source_date_epoch(generated_at):
            document.write_pdf(path, **options)
        pages = len(document.pages)
    return PdfStats(pages=pages, seconds=time.perf_counter() - started)


# --- internals ------------------------------------------------------------------------------


def _environment(folder: Path) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["chart_uri"] = _chart_uri
    environment.filters["chart_alt"] = describe
    return environment


def _chart_uri(chart: ChartData) -> str:
    """The chart as a `data:` URI; WeasyPrint draws SVG images as vectors."""
    svg = render_svg(chart).encode("utf-8")
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def _w3c(moment: datetime) -> str:
    """`2026-10-05T06:00:00Z`: the form WeasyPrint reads from `dcterms.*` meta tags."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while WeasyPrint lays out and draws the report.

    Layout allocates millions of short-lived objects, so full collections keep firing and
    each one walks everything alive, evidence tables included: a fifth of the render time
    for a large organization. Pausing costs a few percent more peak memory (the render's own
    cycles wait until it ends); reference counting still frees everything else at once.
    """
    global _gc_renders, _gc_was_enabled
    with _GC_LOCK:
        if _gc_renders == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_renders += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _gc_renders -= 1
            if _gc_renders == 0 and _gc_was_enabled:
                gc.enable()


@contextmanager
def _source_date_epoch(moment: datetime) -> Iterator[None]:
    """Set SOURCE_DATE_EPOCH to `moment` for the duration, then restore the environment."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    with _EPOCH_LOCK:
        before = os.environ.get("SOURCE_DATE_EPOCH")
        os.environ["SOURCE_DATE_EPOCH"] = str(int(moment.timestamp()))
        try:
            yield
        finally:
            if before is None:
                del os.environ["SOURCE_DATE_EPOCH"]
            else:
                os.environ["SOURCE_DATE_EPOCH"] = before
