"""Reports: JUnit XML for CI and a self-contained HTML page for people."""

from ._annex_iv import ANNEX_IV, annex_iv_bundle
from ._card import model_card
from ._datasheet import datasheet
from ._document import Document, Section
from .html import render_report, write_report
from .junit import junit_xml, write_junit
from .runs import summarize

__all__ = [
    "ANNEX_IV",
    "Document",
    "Section",
    "annex_iv_bundle",
    "datasheet",
    "junit_xml",
    "model_card",
    "render_report",
    "summarize",
    "write_junit",
    "write_report",
]
