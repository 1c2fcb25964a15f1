"""Reports: JUnit XML for CI and a self-contained HTML page for people."""

from .html import render_report, write_report
from .junit import junit_xml, write_junit
from .runs import summarize

__all__ = ["junit_xml", "render_report", "summarize", "write_junit", "write_report"]
