"""Conversations as trees in a real Chromium: versions of questions and answers, stored
failures retried in place, a 10,000-message session kept light, and find in chat."""

from __future__ import annotations

import re

import pytest

from console.tests.browser import require_chromium

pytestmark = pytest.mark.browser
require_chromium()

from playwright.sync_api import Page, expect  # noqa: E402

from console.tests.browser import (  # noqa: E402
    Live,
    choose_model,
    last_answer,
    manage,
    new_session,
    say,
    shot,
)

DOM_BUDGET = 3000


def answered(page: Page, count: int) -> None:
    """Wait until `count` answers are on screen and the last one has finished."""
    expect(page.locator("#messages .msg.assistant")).to_have_count(count)
    expect(last_answer(page).locator(".stats")).to_contain_text("tok")
    expect(page.locator("#send")).to_be_enabled()


def reload(page: Page) -> None:
    page.reload()
    page.wait_for_selector("#messages[data-loaded='1']")


def bodies(page: Page) -> list[str]:
    return [t.strip() for t in page.locator("#messages .msg .body").all_inner_texts()]


def test_editing_a_middle_question_adds_a_version_and_both_branches_stay(page: Page) -> None:
    new_session(page)
    for n, text in enumerate(("one", "two", "three"), start=1):
        say(page, text)
        answered(page, n)
    second = page.locator("#messages .msg.user").nth(1)
    second.get_by_role("button", name="✎ edit").click()
    expect(page.locator("#input")).to_have_value("two")
    say(page, "TWO")
    expect(last_answer(page).locator(".body")).to_contain_text("You said: TWO")
    expect(page.locator("#send")).to_be_enabled()
    assert bodies(page) == ["one", "You said: one", "TWO", "You said: TWO"]
    edited = page.locator("#messages .msg.user").nth(1)
    expect(edited.locator(".version-count")).to_have_text("2/2")

    edited.get_by_role("button", name="previous version").click()
    expect(page.locator("#messages .msg.user").nth(1).locator(".version-count")).to_have_text("1/2")
    expect(page.locator("#messages .msg.assistant")).to_have_count(3)
    assert bodies(page)[2:] == ["two", "You said: two", "three", "You said: three"]
    reload(page)  # the session remembers the branch shown
    assert bodies(page)[-1] == "You said: three"
    next_version = (
        page.locator("#messages .msg.user").nth(1).get_by_role("button", name="next version")
    )
    box = next_version.bounding_box()
    if page.viewport_size and page.viewport_size["width"] < 700:
        assert box and box["width"] >= 44 and box["height"] >= 44
    next_version.click()
    expect(page.locator("#messages .msg.assistant")).to_have_count(2)
    assert bodies(page)[2:] == ["TWO", "You said: TWO"]
    shot(page, f"chat-branched-{page.width_name}")  # type: ignore[attr-defined]


def test_regenerating_with_another_model_keeps_both_answers(page: Page) -> None:
    new_session(page)
    say(page, "which model?")
    answered(page, 1)
    answer = last_answer(page)
    answer.get_by_label("regenerate with another model").click()
    answer.locator(".other-model button[data-model='fake/vision']").click()
    expect(last_answer(page).locator(".body")).to_contain_text("I see 0 image(s).")
    expect(last_answer(page).locator(".role")).to_have_text("vision")
    expect(last_answer(page).locator(".version-count")).to_have_text("2/2")
    expect(page.locator("#model-name")).to_have_text("fake/echo")  # the session keeps its model
    last_answer(page).get_by_role("button", name="previous version").click()
    expect(last_answer(page).locator(".body")).to_contain_text("You said: which model?")
    expect(last_answer(page).locator(".version-count")).to_have_text("1/2")


def test_a_failed_answer_survives_a_reload_and_retries_without_a_second_question(
    page: Page,
) -> None:
    new_session(page, model="fake/broken")
    say(page, "will this work?")
    failure = last_answer(page).locator(".error-box")
    expect(failure).to_be_visible()
    reload(page)
    expect(last_answer(page).locator(".error-box")).to_contain_text("✗")
    expect(page.locator("#messages .msg.user")).to_have_count(1)
    choose_model(page, "fake/echo")
    last_answer(page).get_by_role("button", name="↻ retry").click()
    expect(last_answer(page).locator(".body")).to_contain_text("You said: will this work?")
    expect(page.locator("#messages .msg.user")).to_have_count(1)
    expect(last_answer(page).locator(".version-count")).to_have_text("2/2")
    reload(page)
    expect(page.locator("#messages .msg.user")).to_have_count(1)
    expect(last_answer(page).locator(".error-box")).to_have_count(0)


def test_a_stopped_answer_keeps_what_was_shown(page: Page) -> None:
    new_session(page, model="fake/slow")
    say(page, "count slowly")
    expect(last_answer(page).locator(".body")).to_contain_text("word2")
    page.click("#stop")
    expect(page.locator("#send")).to_be_enabled()
    shown = last_answer(page).locator(".body").inner_text()
    page.wait_for_timeout(500)
    reload(page)
    assert last_answer(page).locator(".body").inner_text() == shown
    expect(last_answer(page).locator(".stats")).to_contain_text("stopped")
    choose_model(page, "fake/echo")
    last_answer(page).get_by_role("button", name="▸ continue").click()
    expect(last_answer(page).locator(".body")).to_contain_text("You said: Continue from")
    expect(page.locator("#messages .msg.user")).to_have_count(2)


def test_only_the_finished_answer_is_announced(desktop: Page) -> None:
    expect(desktop.locator("#messages")).not_to_have_attribute("aria-live", "polite")
    new_session(desktop)
    say(desktop, "announce me")
    expect(desktop.locator("#answer-announcer")).to_have_text(
        re.compile(r"^Answer from echo: You said: announce me")
    )
    expect(desktop.locator("#answer-announcer")).to_have_attribute("aria-live", "polite")


def test_copy_puts_the_message_on_the_clipboard(desktop: Page, live: Live) -> None:
    desktop.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    new_session(desktop)
    say(desktop, "copy **this**")
    answered(desktop, 1)
    question = desktop.locator("#messages .msg.user").last
    question.get_by_role("button", name="copy").click()
    expect(question.locator(".copied")).to_have_text("copied ✓")
    assert desktop.evaluate("navigator.clipboard.readText()") == "copy **this**"


# --- a long session ----------------------------------------------------------------------

LONG = 10_000
SEED_LONG = """
from django.contrib.auth.models import User
from console import conversations
from console.models import Message, Session

session = Session.objects.create(user=User.objects.get(username="alice"), title="long",
                                 model="fake/echo")
rows = Message.objects.bulk_create(
    [Message(session=session, role="user" if i % 2 == 0 else "assistant", content=f"m{{i}}")
     for i in range({n})],
    batch_size=1000,
)
for parent, child in zip(rows, rows[1:]):
    child.parent_id = parent.id
Message.objects.bulk_update(rows[1:], ["parent"], batch_size=1000)
conversations.move_leaf(session, rows[-1].id)
conversations.recount(session)
print(session.id)
"""


@pytest.fixture(scope="module")
def long_session(live: Live) -> str:
    return manage(live.env, "shell", "-c", SEED_LONG.format(n=LONG)).strip().splitlines()[-1]


def open_long(page: Page, session_id: str) -> None:
    page.goto(f"/#{session_id}")
    page.wait_for_selector("#messages[data-loaded='1']")
    expect(page.locator("#title")).to_have_text("long")


def dom_size(page: Page) -> int:
    return page.evaluate("document.querySelectorAll('*').length")


def test_a_10000_message_session_stays_light_scrolled_up_and_from_its_start(
    page: Page, long_session: str
) -> None:
    open_long(page, long_session)
    expect(last_answer(page).locator(".body")).to_have_text("m9999")
    for _ in range(6):  # scroll up a few pages
        before = page.locator("#messages .msg").first.get_attribute("data-id")
        page.eval_on_selector("#messages", "box => box.scrollTop = 0")
        expect(page.locator("#messages .msg").first).not_to_have_attribute("data-id", before or "")
        assert dom_size(page) < DOM_BUDGET
    assert page.locator("#messages .msg").count() <= 150
    expect(page.locator("#messages .msg .body").get_by_text("m9700", exact=True)).to_have_count(1)

    page.click("#jump-first")
    expect(page.locator("#messages .msg").first.locator(".body")).to_have_text("m0")
    for _ in range(4):  # and down again from the start
        last = page.locator("#messages .msg").last.get_attribute("data-id")
        page.eval_on_selector("#messages", "box => box.scrollTop = box.scrollHeight")
        expect(page.locator("#messages .msg").last).not_to_have_attribute("data-id", last or "")
        assert dom_size(page) < DOM_BUDGET
    page.click("#jump-latest")
    expect(last_answer(page).locator(".body")).to_have_text("m9999")
    assert dom_size(page) < DOM_BUDGET


def test_find_in_chat_goes_to_a_message_far_back(page: Page, long_session: str) -> None:
    open_long(page, long_session)
    page.locator("#messages").click()
    page.keyboard.press("/")
    expect(page.locator("#find-input")).to_be_focused()
    page.fill("#find-input", "M1234")
    page.press("#find-input", "Enter")
    found = page.locator("#messages .msg.found")
    expect(found.locator(".body")).to_have_text("m1234")
    expect(found).to_be_in_viewport()
    expect(page.locator("#find-count")).to_have_text("1/1")
    assert dom_size(page) < DOM_BUDGET
