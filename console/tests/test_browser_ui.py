"""The chat page's layout and keyboard use in a real Chromium: the phone layout and its
sessions drawer, the model picker as a combobox, Escape, the skip link, profiles and the
overrides dialog, the playground's columns."""

from __future__ import annotations

import re
import uuid

import pytest

from console.tests.browser import require_chromium

pytestmark = pytest.mark.browser
require_chromium()

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from console.tests.browser import (  # noqa: E402
    PHONE,
    Live,
    last_answer,
    new_session,
    open_page,
    say,
)

# Header, toolbar, pickers and composer at 390×844 (they took 257 px before this layout).
CHROME_BUDGET = 200


@pytest.fixture
def phone(browser: Browser, live: Live):  # type: ignore[no-untyped-def]
    page = open_page(browser, live, PHONE)
    yield page
    page.context.close()


def focused(page: Page) -> str:
    """The focused element's id (or its tag when it has none)."""
    return page.evaluate("document.activeElement.id || document.activeElement.tagName")


def answered(page: Page) -> None:
    expect(last_answer(page).locator(".stats")).to_contain_text("tok")


def saved_session_id(page: Page) -> str:
    """Send a first message (a draft is saved with it) and read the session's id from
    the address, /c/<id>."""
    say(page, "hello")
    answered(page)
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}$"))
    return page.url.rsplit("/c/", 1)[-1]


# --- the phone layout ------------------------------------------------------------------


def test_the_drawer_closes_by_escape_by_the_backdrop_and_by_its_button(phone: Page) -> None:
    drawer, toggle = phone.locator("#sessions"), phone.locator("#toggle-sessions")
    closers = {
        "escape": lambda: phone.keyboard.press("Escape"),
        "backdrop": lambda: phone.click("#drawer-backdrop", position={"x": 375, "y": 400}),
        "button": lambda: phone.click("#close-sessions"),
    }
    for how, close in closers.items():
        expect(drawer).to_be_hidden()
        toggle.click()
        expect(drawer).to_be_visible()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        expect(phone.locator("#drawer-backdrop")).to_be_visible()
        expect(drawer).to_have_attribute("aria-modal", "true")
        assert focused(phone) == "close-sessions", how  # focus moved into the drawer
        assert phone.evaluate("document.querySelector('#conversation').inert")
        close()
        expect(drawer).to_be_hidden()
        expect(toggle).to_have_attribute("aria-expanded", "false")
        assert focused(phone) == "toggle-sessions", how  # and back to ☰
        assert not phone.evaluate("document.querySelector('#conversation').inert")


def test_choosing_a_session_in_the_drawer_closes_it(phone: Page) -> None:
    for text in ("first", "second"):  # a session is saved with its first message
        new_session(phone)
        say(phone, text)
        answered(phone)
    phone.click("#toggle-sessions")
    phone.locator("#session-list li:not(.active) button").first.click()
    expect(phone.locator("#sessions")).to_be_hidden()
    expect(phone.locator("#drawer-backdrop")).to_be_hidden()
    assert not phone.evaluate("document.querySelector('#conversation').inert")


def chrome_height(page: Page) -> float:
    boxes = [
        page.locator(s).bounding_box() for s in ("header.bar", ".toolbar", "#pickers", "#composer")
    ]
    return sum(box["height"] for box in boxes if box)


def test_the_phone_layout_leaves_the_screen_to_the_messages(phone: Page) -> None:
    new_session(phone)
    say(phone, "Hello phone")
    answered(phone)
    assert chrome_height(phone) <= CHROME_BUDGET
    composer = phone.locator("#composer").bounding_box()
    assert composer and composer["y"] + composer["height"] <= PHONE["height"]  # on screen
    assert phone.evaluate("document.scrollingElement.scrollHeight") <= PHONE["height"]
    size = phone.evaluate("parseFloat(getComputedStyle(document.querySelector('#input')).fontSize)")
    assert size >= 16  # smaller text makes iOS zoom in on focus
    # An on-screen keyboard shrinks the viewport: the composer moves up with it.
    phone.set_viewport_size({"width": PHONE["width"], "height": 480})
    phone.focus("#input")
    composer = phone.locator("#composer").bounding_box()
    assert composer and composer["y"] + composer["height"] <= 480
    assert (phone.locator("#messages").bounding_box() or {"height": 0})["height"] > 200


def test_everything_to_tap_on_a_phone_is_at_least_44_px(phone: Page) -> None:
    new_session(phone)
    say(phone, "tap targets")
    answered(phone)
    phone.click("#session-menu summary")  # its items count too
    small = phone.evaluate(
        """() => [...document.querySelectorAll(
                'button, a[href], select, summary, textarea, input:not([type=checkbox])')]
            .filter((el) => el.checkVisibility() && !el.closest('.skip-link, dialog'))
            .map((el) => [el.id || el.className || el.textContent, el.getBoundingClientRect()])
            .filter(([, box]) => box.height < 44 || box.width < 44)
            .map(([name, box]) => `${name}: ${Math.round(box.width)}×${Math.round(box.height)}`)"""
    )
    assert small == []


def csrf_headers(page: Page) -> dict[str, str]:
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    return {"X-CSRFToken": token}


def test_a_wide_answer_scrolls_inside_its_message_not_the_page(phone: Page) -> None:
    new_session(phone)
    session_id = saved_session_id(phone)
    header = "| " + " | ".join(f"column{n}" for n in range(12)) + " |"
    rule = "|" + "---|" * 12
    row = "| " + " | ".join("wide-value" for _ in range(12)) + " |"
    wide = f"{header}\n{rule}\n{row}\n\n```\n{'x' * 300}\n```"
    response = phone.request.post(
        f"/api/sessions/{session_id}/messages",
        data={"role": "assistant", "content": wide, "model": "fake/echo"},
        headers=csrf_headers(phone),
    )
    assert response.status == 201
    phone.reload()
    phone.wait_for_selector("#messages[data-loaded='1']")
    expect(phone.locator("#messages table")).to_have_count(1)
    box = phone.locator("#messages")
    assert box.evaluate("(el) => el.scrollWidth <= el.clientWidth")
    assert phone.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]


# --- keyboard ----------------------------------------------------------------------------


def test_the_model_picker_works_by_keyboard_alone(desktop: Page) -> None:
    new_session(desktop)
    button, filter_ = desktop.locator("#model-button"), desktop.locator("#model-filter")
    desktop.focus("#session-menu summary")
    desktop.keyboard.press("Tab")
    assert focused(desktop) == "model-button"
    expect(button).to_have_attribute("aria-expanded", "false")

    desktop.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(filter_).to_have_attribute("aria-expanded", "true")
    expect(filter_).to_be_focused()
    options = desktop.locator("#model-list [role=option]")
    expect(options).to_have_count(5)
    active = desktop.locator("#model-list [aria-selected=true]")
    expect(active).to_have_count(1)
    expect(active).to_have_attribute("data-id", "fake/echo")  # the session's model
    expect(filter_).to_have_attribute("aria-activedescendant", active.get_attribute("id") or "")
    desktop.keyboard.press("End")
    expect(active).to_have_attribute("data-id", "fake/vision")
    desktop.keyboard.press("Home")
    expect(active).to_have_attribute("data-id", "fake/broken")
    desktop.keyboard.press("ArrowDown")
    desktop.keyboard.press("ArrowDown")
    expect(active).to_have_attribute("data-id", "fake/flaky")
    expect(filter_).to_have_attribute("aria-activedescendant", active.get_attribute("id") or "")

    desktop.keyboard.press("Escape")  # closes, chooses nothing, focus back on the button
    expect(desktop.locator("#model-panel")).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(button).to_be_focused()
    expect(desktop.locator("#model-name")).to_have_text("fake/echo")

    desktop.keyboard.press("s")  # typeahead: opens, filtered by what was typed
    expect(filter_).to_have_value("s")
    expect(options).to_have_count(2)  # slow, vision
    desktop.keyboard.type("l")
    expect(options).to_have_count(1)
    desktop.keyboard.press("Backspace")
    desktop.keyboard.press("ArrowDown")
    expect(active).to_have_attribute("data-id", "fake/vision")
    desktop.keyboard.press("Enter")
    expect(desktop.locator("#model-name")).to_have_text("fake/vision")
    expect(desktop.locator("#model-panel")).to_be_hidden()
    expect(button).to_be_focused()

    desktop.keyboard.press("ArrowDown")
    expect(filter_).to_be_focused()
    for _ in range(4):  # the filter, its three checkboxes, then out
        desktop.keyboard.press("Tab")
    expect(desktop.locator("#model-panel")).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")
    desktop.reload()
    expect(desktop.locator("#model-name")).to_have_text("fake/vision")  # the choice was saved


def test_the_skip_link_goes_to_the_message_box(desktop: Page) -> None:
    new_session(desktop)
    saved_session_id(desktop)
    url = desktop.url
    desktop.reload()
    desktop.wait_for_selector("body[data-ready]", state="attached")
    desktop.keyboard.press("Tab")
    link = desktop.locator("a.skip-link")
    expect(link).to_be_focused()  # the first thing Tab reaches
    expect(link).to_be_in_viewport()
    desktop.keyboard.press("Enter")
    expect(desktop.locator("#input")).to_be_focused()
    assert desktop.url == url  # the address still names the session


def test_escape_closes_the_innermost_thing_first(desktop: Page) -> None:
    new_session(desktop, model="fake/slow")
    desktop.click("#session-menu summary")
    expect(desktop.locator("#session-menu .menu-items")).to_be_visible()
    desktop.keyboard.press("Escape")
    expect(desktop.locator("#session-menu .menu-items")).to_be_hidden()
    expect(desktop.locator("#session-menu summary")).to_be_focused()

    desktop.click("#session-menu summary")
    desktop.click("[data-action=settings]")
    expect(desktop.locator("#settings-dialog")).to_be_visible()
    desktop.keyboard.press("Escape")
    expect(desktop.locator("#settings-dialog")).to_be_hidden()

    say(desktop, "count slowly")
    expect(last_answer(desktop).locator(".body")).to_contain_text("word1")
    desktop.click("#model-button")
    desktop.keyboard.press("Escape")  # the picker closes; the answer goes on
    expect(desktop.locator("#model-panel")).to_be_hidden()
    expect(desktop.locator("#stop")).to_be_visible()
    desktop.focus("#input")
    desktop.keyboard.press("Escape")  # nothing else open: it stops the answer
    expect(last_answer(desktop)).to_have_class(re.compile(r"\bstopped\b"))
    expect(desktop.locator("#stop")).to_be_hidden()


def test_focus_is_visible(desktop: Page) -> None:
    desktop.keyboard.press("Tab")
    desktop.keyboard.press("Tab")
    style = desktop.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, s.outlineWidth]; })()"
    )
    assert style[0] != "none" and float(style[1].rstrip("px")) >= 2


# --- profiles and overrides ---------------------------------------------------------------


def fill_profile(page: Page, **fields: str) -> None:
    for name, value in fields.items():
        page.fill(f"#profile-dialog [name={name}]", value)
    page.click("#profile-save")


def sent(fake_llm_server) -> dict:  # type: ignore[no-untyped-def]
    return fake_llm_server.requests[-1]


def open_overrides(page: Page) -> None:
    page.click("#session-menu summary")
    page.click("[data-action=settings]")
    expect(page.locator("#settings-dialog")).to_be_visible()


def test_a_profile_is_made_edited_used_and_deleted_in_the_console(
    desktop: Page, fake_llm_server
) -> None:  # type: ignore[no-untyped-def]
    name = f"careful-{uuid.uuid4().hex[:6]}"
    new_session(desktop)
    desktop.click("#profile-new")
    dialog = desktop.locator("#profile-dialog")
    expect(dialog).to_be_visible()
    expect(desktop.locator("#profile-shared-row")).to_be_hidden()  # alice may not share
    fill_profile(
        desktop, name=name, system_prompt="Be careful.", temperature="0.3", max_tokens="300"
    )
    expect(dialog).to_be_hidden()
    expect(desktop.locator("#profile option:checked")).to_contain_text(name)
    say(desktop, "first")
    answered(desktop)
    body = sent(fake_llm_server)
    assert (body["temperature"], body["max_tokens"]) == (0.3, 300)
    assert body["messages"][0] == {"role": "system", "content": "Be careful."}

    desktop.click("#profile-edit")
    expect(desktop.locator("#profile-dialog [name=name]")).to_have_value(name)
    fill_profile(desktop, temperature="5")  # the API says no, next to the field
    error = desktop.locator("#profile-dialog .field-error[data-for=temperature]")
    expect(error).to_be_visible()
    expect(error).to_contain_text("2")
    expect(desktop.locator("#profile-dialog [name=temperature]")).to_have_attribute(
        "aria-invalid", "true"
    )
    expect(dialog).to_be_visible()
    fill_profile(desktop, temperature="1.1")
    expect(dialog).to_be_hidden()
    say(desktop, "second")
    answered(desktop)
    assert sent(fake_llm_server)["temperature"] == 1.1

    # The overrides dialog shows what a turn uses, and where it comes from.
    open_overrides(desktop)
    temperature = desktop.locator("#settings-dialog [name=temperature]")
    expect(temperature).to_have_value("1.1")
    expect(desktop.locator("#settings-dialog [name=max_tokens]")).to_have_value("300")
    expect(desktop.locator("#settings-dialog [name=system_prompt]")).to_have_value("Be careful.")
    origin = desktop.locator("[data-field=temperature] .origin")
    expect(origin).to_contain_text(name)
    temperature.fill("0.5")
    expect(origin).to_contain_text("this session")
    desktop.click("#save-settings")
    expect(desktop.locator("#settings-dialog")).to_be_hidden()
    say(desktop, "third")
    answered(desktop)
    assert sent(fake_llm_server)["temperature"] == 0.5
    open_overrides(desktop)
    expect(temperature).to_have_value("0.5")
    desktop.click("[data-field=temperature] .reset")
    expect(temperature).to_have_value("1.1")
    expect(origin).to_contain_text(name)
    desktop.click("#save-settings")
    expect(desktop.locator("#settings-dialog")).to_be_hidden()
    say(desktop, "fourth")
    answered(desktop)
    assert sent(fake_llm_server)["temperature"] == 1.1

    desktop.once("dialog", lambda confirm: confirm.accept())
    desktop.click("#profile-edit")
    desktop.click("#profile-delete")
    expect(dialog).to_be_hidden()
    expect(desktop.locator("#profile option", has_text=name)).to_have_count(0)
    expect(desktop.locator("#profile option:checked")).to_have_text("(none)")


def test_without_a_profile_the_overrides_dialog_shows_the_defaults(desktop: Page) -> None:
    new_session(desktop)
    desktop.select_option("#profile", "")
    open_overrides(desktop)
    expect(desktop.locator("#settings-dialog [name=temperature]")).to_have_value("0.7")
    expect(desktop.locator("#settings-dialog [name=max_tokens]")).to_have_value("2048")
    expect(desktop.locator("[data-field=max_tokens] .origin")).to_contain_text("default")


def test_a_shared_profile_is_read_only_for_a_user(desktop: Page) -> None:
    new_session(desktop)
    desktop.select_option("#profile", label="terse")
    desktop.wait_for_timeout(300)  # the session's PATCH re-renders the header
    expect(desktop.locator("#profile option:checked")).to_have_text("terse")
    desktop.click("#profile-edit")
    expect(desktop.locator("#profile-readonly")).to_be_visible()
    expect(desktop.locator("#profile-dialog [name=name]")).to_have_value("terse")
    expect(desktop.locator("#profile-dialog [name=name]")).to_be_disabled()
    expect(desktop.locator("#profile-save")).to_be_hidden()
    expect(desktop.locator("#profile-delete")).to_be_hidden()
    desktop.keyboard.press("Escape")
    expect(desktop.locator("#profile-dialog")).to_be_hidden()


def test_staff_may_edit_and_share_profiles(browser: Browser, live: Live) -> None:
    page = open_page(browser, live, {"width": 1280, "height": 800}, user="root")
    try:
        new_session(page)
        page.click("#profile-new")
        expect(page.locator("#profile-shared-row")).to_be_visible()
        page.click("#profile-dialog button[value=cancel]")
        page.select_option("#profile", label="pirate")
        page.click("#profile-edit")
        expect(page.locator("#profile-readonly")).to_be_hidden()
        expect(page.locator("#profile-save")).to_be_visible()
    finally:
        page.context.close()


# --- the playground ----------------------------------------------------------------------


def test_the_playground_gives_each_model_a_column_that_scrolls_on_its_own(desktop: Page) -> None:
    new_session(desktop, kind="playground")
    option = desktop.locator("#playground-models select[data-slot='0'] option[value='fake/echo']")
    expect(option).to_contain_text("$1.00/$2.00")  # prices per 1M tokens, in and out
    desktop.select_option("#playground-models select[data-slot='0']", "fake/echo")
    desktop.select_option("#playground-models select[data-slot='1']", "fake/slow")
    expect(desktop.locator(".pg-column").first.locator(".pg-meta")).to_contain_text(
        "8k ctx · in $1.00 / out $2.00 per 1M"
    )
    say(desktop, " ".join(f"long{n}" for n in range(400)))
    columns = desktop.locator(".pg-column .pg-answers")
    expect(columns.nth(0).locator(".msg.assistant .stats")).to_contain_text("ttft", timeout=15_000)
    expect(columns.nth(1).locator(".msg.assistant .stats")).to_contain_text("ttft", timeout=15_000)
    first, second = (columns.nth(n).bounding_box() for n in (0, 1))
    assert (
        first and second and first["y"] == second["y"] and second["x"] > first["x"]
    )  # side by side
    for n in (0, 1):
        assert columns.nth(n).evaluate("(el) => el.scrollHeight > el.clientHeight")
    columns.nth(0).evaluate("(el) => { el.scrollTop = 0; }")
    assert columns.nth(0).evaluate("(el) => el.scrollTop") == 0
    assert columns.nth(1).evaluate("(el) => el.scrollHeight - el.scrollTop - el.clientHeight < 2")
    assert desktop.evaluate("document.scrollingElement.scrollHeight <= innerHeight")
    desktop.reload()  # the columns come back from what the server kept
    desktop.wait_for_selector("#messages[data-loaded='1']", state="attached")
    expect(columns.nth(1).locator(".msg.assistant .body")).to_contain_text("word39")
    expect(columns.nth(0).locator(".msg.assistant .body")).to_contain_text("long399")
