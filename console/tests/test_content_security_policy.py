"""Every page Django renders sends the Content-Security-Policy, and no template carries an
inline script or style attribute the policy would block."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["/", "/usage/", "/status/", "/admin/", "/admin/backups/", "/admin/providers/provider/"]


def directives(response) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    header = response["Content-Security-Policy"]
    parsed = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = set(values)
    return parsed


# Only the chat page lets mermaid's diagrams carry inline styles (console/views.py), and only
# styles: scripts, images and everything else stay 'self'.
MERMAID_STYLES = {
    "style-src-elem": {"'self'", "'unsafe-inline'"},
    "style-src-attr": {"'unsafe-inline'"},
}


def assert_policy(response, path: str = "") -> None:  # type: ignore[no-untyped-def]
    policy = directives(response)
    if path == "/":
        for name, values in MERMAID_STYLES.items():
            assert policy.pop(name) == values
    assert "style-src" not in policy  # styles fall back to default-src 'self'
    assert policy["default-src"] == {"'self'"}
    assert policy["img-src"] == {"'self'", "data:", "blob:"}
    assert policy["form-action"] == {"'self'"}
    assert policy["frame-ancestors"] == {"'none'"}
    assert "script-src" not in policy  # scripts fall back to default-src 'self'
    assert not any("unsafe" in value for values in policy.values() for value in values)


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_every_console_and_admin_page_sends_the_policy(as_staff: Client, path: str) -> None:
    response = as_staff.get(path)
    assert response.status_code == 200, path
    assert_policy(response, path)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/login/", "/admin/login/", "/api/docs"])
def test_pages_before_login_send_it_too(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, path
    assert_policy(response)


def test_the_api_docs_page_has_no_inline_script(client: Client) -> None:
    html = client.get("/api/docs").content.decode()
    for match in re.finditer(r"<script([^>]*)>(.*?)</script>", html, re.S):
        attributes, body = match.groups()
        assert "src=" in attributes or 'type="application/json"' in attributes, match.group(0)


TEMPLATES = sorted((ROOT / "templates").rglob("*.html")) + sorted(
    ROOT.glob("*/templates/**/*.html")
)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_templates_carry_no_inline_script_handler_or_style(template: Path) -> None:
    text = template.read_text()
    for match in re.finditer(r"<script([^>]*)>", text):
        assert "src=" in match.group(1), f"inline <script> in {template.name}"
    assert not re.search(r"\son[a-z]+\s*=", text), f"inline event handler in {template.name}"
    assert not re.search(r"\sstyle\s*=", text), f"style attribute in {template.name}"
    assert "<style" not in text, f"inline <style> in {template.name}"
    assert "javascript:" not in text
