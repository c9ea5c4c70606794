"""Reading answers in a real Chromium: formulas (KaTeX), mermaid diagrams, tables, prices."""

from __future__ import annotations

from typing import Any

import pytest

from console.tests.browser import require_chromium

pytestmark = pytest.mark.browser
require_chromium()

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from console.tests.browser import (  # noqa: E402
    DESKTOP,
    PHONE,
    Live,
    last_answer,
    new_session,
    open_page,
    say,
)

MATH_AND_DIAGRAM = """Euler: $e^{i\\pi}+1=0$, and it costs $5 and $10.

$$
\\int_0^1 x^2\\,dx = \\frac{1}{3}
$$

Code keeps its dollars: `$x$` and

```
echo "$HOME $PATH"
```

```mermaid
flowchart LR
  A[ask] --> B{answer?}
  B -->|yes| C[read]
```
"""


def api_post(page: Page, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST as the page's logged-in user (its session cookie and CSRF token)."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(path, data=body, headers={"X-CSRFToken": token})
    assert response.status == 201, response.text()
    return response.json()


def open_saved_conversation(page: Page, *turns: tuple[str, str]) -> None:
    """A session with these (role, content) messages, opened as a reload would show it."""
    session = api_post(page, "/api/sessions", {"title": "reading", "model": "fake/echo"})
    for role, content in turns:
        api_post(
            page, f"/api/sessions/{session['id']}/messages", {"role": role, "content": content}
        )
    page.goto(f"/#{session['id']}")
    page.reload()  # only the hash changed: load the page for it
    page.wait_for_selector("#messages[data-loaded='1']")


def test_formulas_diagrams_and_prices_render_under_the_policy(page: Page) -> None:
    open_saved_conversation(page, ("user", "show me"), ("assistant", MATH_AND_DIAGRAM))
    body = last_answer(page).locator(".body")
    expect(body).to_have_attribute("data-rendered", "1")
    expect(body.locator(".math .katex").first).to_be_visible()
    expect(body.locator(".math.display .katex-display")).to_have_count(1)
    expect(body.locator("figure.diagram svg")).to_be_visible()
    expect(body.locator("figure.diagram svg")).to_contain_text("answer?")
    # Prices and code stay text.
    expect(body.locator("p").first).to_contain_text("it costs $5 and $10.")
    expect(body.locator("code").first).to_have_text("$x$")
    expect(body.locator("pre code").first).to_contain_text('echo "$HOME $PATH"')
    assert body.locator(".math").count() == 2
    # The diagram's source is kept, one click away.
    expect(body.locator("figure.diagram details pre code")).to_contain_text("flowchart LR")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], "the answer widened the page"  # type: ignore[index]
    assert page.csp_violations == []  # type: ignore[attr-defined]


def test_a_streamed_answer_typesets_its_formulas(desktop: Page) -> None:
    new_session(desktop)
    say(desktop, "Euler $e^{i\\pi}+1=0$ and $$\\sum_{n=1}^{\\infty} 1/n^2$$ for $5 and $10")
    body = last_answer(desktop).locator(".body")
    expect(body).to_have_attribute("data-rendered", "1")
    expect(body.locator(".katex")).to_have_count(2)
    expect(body).to_contain_text("for $5 and $10")
    assert desktop.csp_violations == []  # type: ignore[attr-defined]


def test_a_broken_diagram_or_formula_stays_readable(desktop: Page) -> None:
    broken = "```mermaid\nflowchart LR\n  A --> [[[\n```\n\nand $\\frac{1}{$ too"
    open_saved_conversation(desktop, ("assistant", broken))
    body = last_answer(desktop).locator(".body")
    expect(body).to_have_attribute("data-rendered", "1")
    expect(body.locator("pre.diagram-failed code")).to_contain_text("A --> [[[")
    expect(body.locator("figure.diagram")).to_have_count(0)
    expect(body.locator(".katex-error")).to_have_count(1)


def test_a_wide_table_scrolls_inside_the_answer_on_a_phone(browser: Browser, live: Live) -> None:
    page = open_page(browser, live, PHONE)
    header = "| " + " | ".join(f"column {n}" for n in range(12)) + " |"
    rule = "|" + "---|" * 12
    row = "| " + " | ".join("a-rather-long-value" for _ in range(12)) + " |"
    open_saved_conversation(page, ("assistant", f"{header}\n{rule}\n{row}\n"))
    box = last_answer(page).locator(".table-scroll")
    expect(box.locator("th").first).to_have_text("column 0")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    overflow = box.evaluate("node => [node.scrollWidth, node.clientWidth]")
    assert overflow[0] > overflow[1], "the table is squeezed instead of scrolling"
    page.context.close()


def test_no_formula_or_diagram_library_loads_without_need(browser: Browser, live: Live) -> None:
    page = open_page(browser, live, DESKTOP)
    loaded: list[str] = []
    page.on("request", lambda request: loaded.append(request.url))
    open_saved_conversation(page, ("user", "plain"), ("assistant", "plain **text**, $5"))
    expect(last_answer(page).locator(".body")).to_have_attribute("data-rendered", "1")
    assert [url for url in loaded if "katex" in url or "mermaid" in url] == []
    page.context.close()


def test_a_models_styles_are_dropped_without_a_policy_violation(desktop: Page) -> None:
    """On a page with the strict policy (the chat page allows mermaid's inline styles),
    rendering hostile styles reports nothing: they never reach an HTML parser."""
    desktop.goto("/keys/")
    desktop.wait_for_load_state("networkidle")
    desktop.csp_violations.clear()  # type: ignore[attr-defined]
    html = desktop.evaluate(
        """async () => {
            const { renderInto } = await import("/static/console/markdown.js");
            const box = document.createElement("div");
            document.body.append(box);
            await renderInto(box, "<style>body{display:none}</style><p style=color:red>styled</p>"
              + "\\n\\n<div style='x'>block</div>\\n\\nThe style = fine.");
            return box.innerHTML;
        }"""
    )
    assert "styled" in html and "block" in html and "The style = fine." in html
    assert "style=" not in html and "x-style" not in html, html
    assert "display:none" not in html
    assert desktop.csp_violations == []  # type: ignore[attr-defined]
