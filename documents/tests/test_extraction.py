from __future__ import annotations

from pathlib import Path

import pytest

from documents.extraction import ExtractionError, extract, extract_with_budget
from documents.tests.conftest import HANDBOOK
from documents.tests.files import make_docx, make_pdf, make_zip_bomb_docx


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def test_it_extracts_each_pdf_page_with_its_number(tmp_path: Path) -> None:
    pdf = write(
        tmp_path,
        "report.pdf",
        make_pdf(
            [
                "Quarterly report (draft).\nRevenue grew in the northern region.",
                "The second page covers hiring plans.",
                "Page three lists the risks: supply chain and currency.",
            ]
        ),
    )

    sections = extract_with_budget(pdf, "pdf")

    assert [s.page for s in sections] == [1, 2, 3]
    assert "Quarterly report (draft)." in sections[0].text
    assert "northern region" in sections[0].text
    assert sections[1].text == "The second page covers hiring plans."
    assert "supply chain and currency" in sections[2].text


def test_it_turns_docx_headings_into_sections(tmp_path: Path) -> None:
    docx = write(
        tmp_path,
        "guide.docx",
        make_docx(
            [
                ("title", "Operations guide"),
                ("p", "This guide is for on-call staff."),
                ("h1", "Backups"),
                ("p", "Backups run nightly at 02:00."),
                ("p", "They are kept for fourteen days."),
                ("h2", "Restoring"),
                ("p", "Restores need two approvals."),
            ]
        ),
    )

    sections = extract_with_budget(docx, "docx")

    assert [(s.section, s.page) for s in sections] == [
        ("Operations guide", None),
        ("Backups", None),
        ("Restoring", None),
    ]
    assert "Backups run nightly at 02:00.\nThey are kept for fourteen days." in sections[1].text
    assert "Restores need two approvals." in sections[2].text


def test_it_reads_visible_html_text_by_heading_and_skips_scripts_and_styles(
    tmp_path: Path,
) -> None:
    html = write(
        tmp_path,
        "page.html",
        """<!doctype html><html><head><title>Ignored title</title>
        <style>body { color: red }</style></head><body>
        <script>var secret = "do not index";</script>
        <p>Intro paragraph &amp; more.</p>
        <h2>Pricing</h2><p>The basic plan costs <b>10 euros</b>.</p>
        <noscript>enable javascript</noscript>
        <h2>Support</h2><ul><li>Email</li><li>Phone</li></ul>
        </body></html>""",
    )

    sections = extract(html, "html")

    assert [s.section for s in sections] == ["", "Pricing", "Support"]
    assert sections[0].text == "Intro paragraph & more."
    assert "The basic plan costs 10 euros." in sections[1].text
    assert "Email\nPhone" in sections[2].text
    everything = " ".join(s.text for s in sections)
    assert "do not index" not in everything
    assert "color: red" not in everything
    assert "Ignored title" not in everything
    assert "enable javascript" not in everything


def test_it_splits_markdown_at_headings_but_not_inside_code_fences(tmp_path: Path) -> None:
    md = write(tmp_path, "notes.md", "Preface.\n\n# Setup\nRun it.\n```sh\n# not a heading\n```\n")

    sections = extract(md, "markdown")

    assert [s.section for s in sections] == ["", "Setup"]
    assert "# not a heading" in sections[1].text


def test_it_gives_each_handbook_heading_a_section(tmp_path: Path) -> None:
    sections = extract(write(tmp_path, "handbook.md", HANDBOOK), "markdown")

    assert [s.section for s in sections][:3] == ["Staff handbook", "Vacation", "Expenses"]
    assert len(sections) == 13


def test_it_reads_plain_text_as_one_section(tmp_path: Path) -> None:
    sections = extract(write(tmp_path, "a.txt", "\ufeffhello\n\nworld"), "text")

    assert [(s.text, s.page, s.section) for s in sections] == [("hello\n\nworld", None, "")]


def test_it_refuses_a_docx_zip_bomb_before_inflating_it(tmp_path: Path) -> None:
    bomb = write(tmp_path, "bomb.docx", make_zip_bomb_docx(20 * 1024 * 1024))

    with pytest.raises(ExtractionError, match="zip bomb"):
        extract_with_budget(bomb, "docx")


def test_it_reports_an_unreadable_pdf(tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.pdf", b"%PDF-1.4\nthis is not really a pdf\n")

    with pytest.raises(ExtractionError):
        extract_with_budget(broken, "pdf")


def test_a_child_over_its_memory_limit_is_stopped_with_a_reason(tmp_path: Path) -> None:
    pdf = write(tmp_path, "a.pdf", make_pdf(["small"]))

    with pytest.raises(ExtractionError, match="more than 40 MB|stopped"):
        extract_with_budget(pdf, "pdf", memory_mb=40)


def test_it_stops_when_the_time_budget_is_spent(tmp_path: Path) -> None:
    pdf = write(tmp_path, "a.pdf", make_pdf(["one", "two"]))

    with pytest.raises(ExtractionError, match="time"):
        extract_with_budget(pdf, "pdf", seconds=0.0)
