from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string


def test_the_documents_panel_renders_with_its_script() -> None:
    html = render_to_string("console/documents_panel.html", {"upload_max_bytes": 1234})

    assert 'class="panel docs-panel"' in html
    assert 'data-max-bytes="1234"' in html
    assert 'type="module" src="/static/console/documents.js"' in html
    assert 'href="/static/console/documents.css"' in html and "<style" not in html
    assert 'class="docs-passage"' in html
    assert "<textarea" not in html  # questions go through the chat page's one composer


def test_the_panel_script_uses_the_documents_api() -> None:
    script = (Path(settings.BASE_DIR) / "static/console/documents.js").read_text()

    for path in ("/api/documents/upload", "/api/documents/qa/stream", "/chunks/"):
        assert path in script
