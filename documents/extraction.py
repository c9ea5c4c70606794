"""Text extraction: PDF pages, DOCX and Markdown and HTML sections, plain text.

PDF and DOCX parsers run in a child interpreter (`python -m documents.extraction`) with a
wall-clock budget and an address-space limit: a crafted file can make pypdf or lxml spin
or balloon, and a killed child is the only bound that holds for code we do not control.
A subprocess rather than multiprocessing because django-q2 workers are daemonic and may
not fork children. Text, Markdown and HTML go through linear stdlib code in-process, with
the same cooperative budget. This module imports nothing from Django.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from html.parser import HTMLParser
from pathlib import Path

from documents.filetypes import RefusedFile, check_docx

MAX_PDF_PAGES = 2000
MAX_TEXT_CHARS = 5_000_000
ISOLATED_KINDS = frozenset({"pdf", "docx"})
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Section:
    """A run of text from one page (PDF) or under one heading (DOCX, HTML, Markdown)."""

    text: str
    page: int | None = None
    section: str = ""


class ExtractionError(Exception):
    """Extraction failed; the message is the reason shown to the user."""


class _Budget:
    """Cooperative checks between pages and paragraphs; the child's kill is the backstop."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.chars = 0

    def spend(self, text: str) -> str:
        if time.monotonic() > self.deadline:
            raise ExtractionError("extraction ran out of time")
        room = MAX_TEXT_CHARS - self.chars
        self.chars += min(len(text), max(room, 0))
        return text[: max(room, 0)]

    @property
    def full(self) -> bool:
        return self.chars >= MAX_TEXT_CHARS


def extract(path: Path, kind: str, seconds: float = 60.0) -> list[Section]:
    """Extract in this process (the child calls this). Empty sections are dropped."""
    budget = _Budget(seconds)
    extractor = {
        "pdf": _extract_pdf,
        "docx": _extract_docx,
        "html": _extract_html,
        "markdown": _extract_markdown,
    }.get(kind, _extract_text)
    return [section for section in extractor(path, budget) if section.text.strip()]


def _extract_pdf(path: Path, budget: _Budget) -> list[Section]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(path)
        if len(reader.pages) > MAX_PDF_PAGES:
            raise ExtractionError(f"the PDF has {len(reader.pages)} pages; at most {MAX_PDF_PAGES}")
        sections = []
        for number, page in enumerate(reader.pages, start=1):
            if budget.full:
                break
            sections.append(Section(budget.spend(page.extract_text() or ""), page=number))
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise ExtractionError(f"unreadable PDF: {exc}") from exc
    return sections


def _extract_docx(path: Path, budget: _Budget) -> list[Section]:
    import docx
    from docx.table import Table

    try:
        check_docx(path)
        document = docx.Document(str(path))
    except RefusedFile as exc:
        raise ExtractionError(str(exc).removeprefix("file: ")) from exc
    except Exception as exc:  # python-docx raises several unrelated types for bad files
        raise ExtractionError(f"unreadable DOCX: {exc}") from exc
    collector = _SectionCollector(budget)
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                collector.add(" | ".join(cell.text.strip() for cell in row.cells))
            continue
        style = (block.style.name if block.style is not None else "") or ""
        if style.startswith("Heading") or style == "Title":
            collector.heading(block.text)
        else:
            collector.add(block.text)
    return collector.sections()


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _extract_markdown(path: Path, budget: _Budget) -> list[Section]:
    collector = _SectionCollector(budget)
    in_fence = False
    for line in _read_text(path).splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        match = None if in_fence else _MD_HEADING.match(line)
        if match:
            collector.heading(match.group(2))
        else:
            collector.add(line)
    return collector.sections()


def _extract_text(path: Path, budget: _Budget) -> list[Section]:
    return [Section(budget.spend(_read_text(path)))]


def _read_text(path: Path) -> str:
    return path.read_bytes()[: MAX_TEXT_CHARS * 4].decode("utf-8-sig", errors="replace")


class _SectionCollector:
    """Lines grouped under the most recent heading; the heading text opens the section."""

    def __init__(self, budget: _Budget) -> None:
        self.budget = budget
        self.title = ""
        self.lines: list[str] = []
        self.done: list[Section] = []

    def heading(self, text: str) -> None:
        self._close()
        self.title = " ".join(text.split())[:200]
        self.lines = [self.budget.spend(self.title)]

    def add(self, line: str) -> None:
        if not self.budget.full:
            self.lines.append(self.budget.spend(line))

    def _close(self) -> None:
        text = "\n".join(self.lines).strip()
        if text and text != self.title:
            self.done.append(Section(text, section=self.title))

    def sections(self) -> list[Section]:
        self._close()
        self.lines = []
        return self.done


_SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template", "head", "svg"})
_HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "tr", "section", "article", "pre", "blockquote", "table", "ul", "ol"}
)


class _HtmlText(HTMLParser):
    """Visible text by heading; script, style and head contents are skipped."""

    def __init__(self, budget: _Budget) -> None:
        super().__init__(convert_charrefs=True)
        self.collector = _SectionCollector(budget)
        self.skipping = 0
        self.heading: list[str] | None = None
        self.line: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping += 1
        elif tag in _HEADING_TAGS:
            self._flush()
            self.heading = []
        elif tag in _BLOCK_TAGS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping = max(self.skipping - 1, 0)
        elif tag in _HEADING_TAGS and self.heading is not None:
            self.collector.heading("".join(self.heading))
            self.heading = None
        elif tag in _BLOCK_TAGS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        (self.heading if self.heading is not None else self.line).append(data)

    def _flush(self) -> None:
        text = " ".join("".join(self.line).split())
        if text:
            self.collector.add(text)
        self.line = []

    def sections(self) -> list[Section]:
        self._flush()
        return self.collector.sections()


def _extract_html(path: Path, budget: _Budget) -> list[Section]:
    parser = _HtmlText(budget)
    parser.feed(_read_text(path))
    parser.close()
    return parser.sections()


def extract_with_budget(
    path: Path, kind: str, seconds: float = 60.0, memory_mb: int = 1024
) -> list[Section]:
    """Extract PDF and DOCX in a child interpreter killed after `seconds` or past
    `memory_mb`; other kinds in-process."""
    if kind not in ISOLATED_KINDS:
        return extract(path, kind, seconds)
    command = [sys.executable, "-m", "documents.extraction", kind, str(path)]
    command += [str(seconds), str(memory_mb)]
    try:
        done = subprocess.run(
            command, cwd=_PROJECT_ROOT, capture_output=True, timeout=seconds + 5, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ExtractionError(f"extraction took longer than {seconds:g} s and was stopped") from exc
    try:
        result = json.loads(done.stdout or b"{}")
    except json.JSONDecodeError:
        result = {}
    if done.returncode != 0 or "sections" not in result:
        reason = result.get("error") or f"the extractor stopped (exit status {done.returncode})"
        raise ExtractionError(reason)
    return [Section(**section) for section in result["sections"]]


def _main(argv: list[str]) -> int:
    import resource

    kind, path, seconds, memory_mb = argv[0], Path(argv[1]), float(argv[2]), int(argv[3])
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        sections = extract(path, kind, seconds)
    except ExtractionError as exc:
        print(json.dumps({"error": str(exc)}))
        return 1
    except MemoryError:
        print(json.dumps({"error": f"extraction needed more than {memory_mb} MB and was stopped"}))
        return 1
    except RecursionError:
        print(json.dumps({"error": "the document nests too deeply to read"}))
        return 1
    print(json.dumps({"sections": [asdict(section) for section in sections]}))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
