"""Finding one's way between sessions in a real Chromium: the address names the session,
Back/Forward switch conversations, "+ new" saves nothing until the first message, new
sessions start on the default route, and documents questions go through the one composer."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from console.tests.browser import require_chromium

pytestmark = pytest.mark.browser
require_chromium()

from playwright.sync_api import Page, expect  # noqa: E402

from console.tests.browser import Live, last_answer, new_session, say, shot  # noqa: E402

SESSION_URL = re.compile(r"/c/[0-9a-f-]{36}$")
HANDBOOK = b"""# Handbook

## Remote work

Staff may work remotely three days per week.

## Parking

The garage has 40 spaces, assigned by lottery each quarter.
"""


def loaded(page: Page) -> None:
    expect(page.locator("#messages")).to_have_attribute("data-loaded", "1")


def chat(page: Page, text: str) -> str:
    """A new session with one answered message; its address."""
    new_session(page)
    say(page, text)
    expect(last_answer(page).locator(".stats")).to_contain_text("tok")
    expect(page).to_have_url(SESSION_URL)
    return page.url


def session_count(page: Page) -> int:
    return page.request.get("/api/sessions?limit=1").json()["count"]


def test_back_and_forward_switch_the_conversation_and_reload_keeps_it(desktop: Page) -> None:
    first = chat(desktop, "first topic alpha")
    second = chat(desktop, "second topic beta")
    assert first != second
    expect(desktop.locator("#title")).to_have_text("second topic beta")

    desktop.go_back()
    expect(desktop).to_have_url(first)
    loaded(desktop)
    expect(desktop.locator("#title")).to_have_text("first topic alpha")
    expect(desktop.locator("#messages .msg.user")).to_have_count(1)
    expect(desktop.locator("#messages .msg.user")).to_contain_text("alpha")
    expect(desktop.locator("#session-list li.active")).to_contain_text("first topic alpha")

    desktop.go_forward()
    expect(desktop).to_have_url(second)
    loaded(desktop)
    expect(desktop.locator("#title")).to_have_text("second topic beta")
    expect(desktop.locator("#messages .msg.user")).to_contain_text("beta")

    desktop.reload()
    loaded(desktop)
    expect(desktop).to_have_url(second)
    expect(desktop.locator("#title")).to_have_text("second topic beta")
    answer = desktop.locator("#messages .msg.assistant")
    expect(answer).to_contain_text("You said: second topic beta")


def test_an_address_of_no_session_of_yours_says_so_and_shows_the_latest(desktop: Page) -> None:
    latest = chat(desktop, "the latest one")

    for wrong in ("/c/00000000-0000-4000-8000-000000000000", "/c/not-a-session"):
        desktop.goto(wrong)
        expect(desktop.locator(".msg.notice")).to_contain_text("no session")
        expect(desktop).to_have_url(latest)
        expect(desktop.locator("#title")).to_have_text("the latest one")


def test_an_old_hash_link_opens_its_session(desktop: Page) -> None:
    address = chat(desktop, "linked the old way")
    session_id = address.rsplit("/", 1)[1]
    desktop.goto("about:blank")

    desktop.goto(f"/#{session_id}")

    expect(desktop).to_have_url(address)
    expect(desktop.locator("#title")).to_have_text("linked the old way")


def test_new_and_leaving_without_sending_saves_no_session(desktop: Page) -> None:
    chat(desktop, "something to come back to")
    before = session_count(desktop)

    new_session(desktop)
    desktop.fill("#input", "never sent")
    new_session(desktop, kind="code")
    desktop.reload()
    loaded(desktop)
    expect(desktop.locator("#type-badge")).to_have_text("code")  # the draft's address
    desktop.goto("/")
    loaded(desktop)

    assert session_count(desktop) == before
    expect(desktop.locator("#title")).to_have_text("something to come back to")


def test_a_draft_is_saved_with_its_model_and_profile_on_the_first_message(desktop: Page) -> None:
    new_session(desktop, model="fake/echo")
    desktop.select_option("#profile", label="terse")
    before = session_count(desktop)

    say(desktop, "save me now")
    expect(last_answer(desktop).locator(".stats")).to_contain_text("tok")

    assert session_count(desktop) == before + 1
    session_id = desktop.url.rsplit("/", 1)[1]
    saved = desktop.request.get(f"/api/sessions/{session_id}").json()
    assert saved["model"] == "fake/echo" and saved["profile_id"] is not None
    messages = desktop.request.get(f"/api/sessions/{session_id}/messages").json()
    assert [m["role"] for m in messages["items"]] == ["user", "assistant"]
    desktop.reload()
    loaded(desktop)
    expect(desktop.locator("#profile option:checked")).to_have_text(re.compile("terse"))


@pytest.fixture
def route(live: Live) -> Iterator[str]:
    """An active route over the fake provider's echo model, removed afterwards (the other
    browser tests expect none)."""
    headers = {"Authorization": f"Bearer {live.admin_key}"}
    providers = httpx.get(f"{live.url}/api/providers", headers=headers).json()
    fake = next(p for p in providers if p["name"] == "fake")
    body = {
        "name": "team-default",
        "mode": "auto",
        "is_active": True,
        "config": {},
        "nodes": [{"api_id": fake["id"], "models": ["echo"], "strategy": "failover"}],
    }
    created = httpx.post(f"{live.url}/api/model-routes", json=body, headers=headers)
    assert created.status_code == 201, created.text
    yield "team-default"
    httpx.delete(f"{live.url}/api/model-routes/{created.json()['id']}", headers=headers)


def test_a_new_session_starts_on_the_first_route(desktop: Page, route: str) -> None:
    desktop.reload()  # the picker's list is read when the page starts
    loaded(desktop)
    desktop.select_option("#new-type", "chat")
    desktop.click("#new-session")

    expect(desktop.locator("#model-name")).to_have_text(route)
    say(desktop, "through the route")
    expect(last_answer(desktop).locator(".body")).to_contain_text("You said: through the route")


def test_a_documents_question_goes_through_the_one_composer_and_is_kept(desktop: Page) -> None:
    new_session(desktop, kind="documents")
    panel = desktop.locator("#documents-panel")
    expect(panel.locator("textarea")).to_have_count(0)
    desktop.set_input_files(
        "#documents-panel .docs-file",
        files=[{"name": "nav-handbook.md", "mimeType": "text/markdown", "buffer": HANDBOOK}],
    )
    row = panel.locator(".docs-list li", has_text="nav-handbook.md")
    expect(row.locator(".badge")).to_have_text("ready")
    expect(row.locator("input[type=checkbox]")).to_be_checked()

    say(desktop, "How many days per week can staff work remotely?")

    answer = last_answer(desktop)
    citation = answer.locator(".citations li").first
    expect(citation).to_contain_text("nav-handbook.md · Remote work")
    expect(citation).to_contain_text("Staff may work remotely three days per week.")
    expect(desktop).to_have_url(SESSION_URL)
    expect(desktop.locator("#input")).to_have_value("")
    expect(desktop.locator("#messages .turn-action")).to_have_count(0)  # chat-only actions

    desktop.reload()
    loaded(desktop)
    expect(desktop.locator("#messages .msg.user")).to_contain_text("work remotely")
    kept = last_answer(desktop).locator(".citations li").first
    expect(kept).to_contain_text("nav-handbook.md · Remote work")
    kept.locator("button").click()
    expect(desktop.locator(".docs-passage mark")).to_have_text(
        "Staff may work remotely three days per week."
    )
    desktop.keyboard.press("Escape")
    shot(desktop, "documents")
    assert desktop.csp_violations == []  # type: ignore[attr-defined]
