"""The console in a real Chromium: chat, sessions, pickers, usage, keys, status."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from console.tests.browser import require_chromium

pytestmark = pytest.mark.browser
require_chromium()

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from console.tests.browser import (  # noqa: E402
    DESKTOP,
    PHONE,
    PIXEL_PNG,
    Live,
    choose_model,
    last_answer,
    new_session,
    open_page,
    say,
    sessions_panel,
    shot,
    watch_policy,
)


def test_a_message_streams_in_and_is_kept(page: Page) -> None:
    new_session(page)
    say(page, "Hello **switchboard**")
    answer = last_answer(page)
    expect(answer.locator(".body")).to_contain_text("You said: Hello switchboard")
    expect(answer.locator(".stats")).to_contain_text("tok")
    expect(page.locator("#input")).to_have_value("")
    expect(page.locator("#total")).to_contain_text("tok")
    say(page, "Show me code:\n```python\nprint('hi')\n```")
    expect(last_answer(page).locator(".stats")).to_contain_text("tok")
    page.reload()
    page.wait_for_selector("#messages[data-loaded='1']")
    expect(page.locator("#messages .msg.user")).to_have_count(2)
    expect(page.locator("#messages .msg.assistant")).to_have_count(2)
    shot(page, f"chat-{page.width_name}")  # type: ignore[attr-defined]


def test_shift_enter_adds_a_line_instead_of_sending(desktop: Page) -> None:
    new_session(desktop)
    desktop.fill("#input", "first line")
    desktop.press("#input", "Shift+Enter")
    desktop.type("#input", "second line")
    expect(desktop.locator("#input")).to_have_value("first line\nsecond line")
    expect(desktop.locator("#messages .msg.user")).to_have_count(0)


def test_stop_keeps_the_partial_answer_marked_stopped(page: Page) -> None:
    new_session(page, model="fake/slow")
    say(page, "count slowly")
    answer = last_answer(page)
    expect(answer.locator(".body")).to_contain_text("word2")
    page.click("#stop")
    expect(answer).to_have_class(has_class("stopped"))
    page.wait_for_timeout(300)  # the server saves the partial answer as the stream closes
    page.reload()
    page.wait_for_selector("#messages[data-loaded='1']")
    saved = last_answer(page)
    expect(saved).to_have_class(has_class("stopped"))
    expect(saved.locator(".body")).to_contain_text("word0")
    expect(saved.locator(".stats")).to_contain_text("stopped")


def has_class(name: str):  # type: ignore[no-untyped-def]
    import re

    return re.compile(rf"\b{name}\b")


def test_regenerate_shows_the_new_answer_as_a_second_version(desktop: Page) -> None:
    new_session(desktop)
    say(desktop, "again please")
    expect(last_answer(desktop).locator(".stats")).to_contain_text("tok")
    first_id = last_answer(desktop).get_attribute("data-id")
    last_answer(desktop).get_by_text("↻ regenerate").click()
    expect(last_answer(desktop).locator(".version-count")).to_have_text("2/2")
    expect(last_answer(desktop).locator(".stats")).to_contain_text("tok")
    expect(desktop.locator("#messages .msg.assistant")).to_have_count(1)
    assert last_answer(desktop).get_attribute("data-id") != first_id


def test_editing_the_last_message_and_resending(desktop: Page) -> None:
    new_session(desktop)
    say(desktop, "helo")
    expect(last_answer(desktop).locator(".stats")).to_contain_text("tok")
    desktop.locator("#messages .msg.user").last.get_by_text("✎ edit").click()
    expect(desktop.locator("#input")).to_have_value("helo")
    say(desktop, "hello")
    expect(last_answer(desktop).locator(".body")).to_contain_text("You said: hello")
    expect(desktop.locator("#messages .msg.user")).to_have_count(1)
    expect(desktop.locator("#messages .msg.user .version-count")).to_have_text("2/2")


def test_switching_profile_changes_the_system_prompt(desktop: Page, fake_llm_server) -> None:  # type: ignore[no-untyped-def]
    new_session(desktop)
    desktop.select_option("#profile", label="pirate")
    desktop.wait_for_timeout(200)
    say(desktop, "ahoy")
    expect(last_answer(desktop).locator(".stats")).to_contain_text("tok")
    system = fake_llm_server.requests[-1]["messages"][0]
    assert system == {"role": "system", "content": "Talk like a pirate."}
    desktop.reload()
    desktop.wait_for_selector("#messages[data-loaded='1']")
    expect(desktop.locator("#profile option:checked")).to_have_text("pirate")


def test_an_image_goes_to_a_vision_model(page: Page) -> None:
    new_session(page, model="fake/echo")
    page.set_input_files(
        "#file", files=[{"name": "dot.png", "mimeType": "image/png", "buffer": PIXEL_PNG}]
    )
    expect(page.locator(".msg.notice")).to_contain_text("does not take images")
    choose_model(page, "fake/vision")
    page.set_input_files(
        "#file", files=[{"name": "dot.png", "mimeType": "image/png", "buffer": PIXEL_PNG}]
    )
    expect(page.locator("#attachments img")).to_have_count(1)
    say(page, "what is this?")
    expect(last_answer(page).locator(".body")).to_contain_text("I see 1 image(s).")
    expect(page.locator("#messages .msg.user .thumbs img")).to_have_count(1)


def test_errors_show_in_the_conversation_and_keep_the_input(desktop: Page) -> None:
    new_session(desktop, model="fake/broken")
    say(desktop, "will this work?")
    expect(desktop.locator(".error-box")).to_be_visible()
    expect(desktop.locator("#input")).to_have_value("will this work?")
    choose_model(desktop, "fake/echo")
    desktop.press("#input", "Enter")
    expect(last_answer(desktop).locator(".body")).to_contain_text("You said: will this work?")
    expect(desktop.locator("#messages .msg.user")).to_have_count(1)


def test_search_finds_sessions_by_message_text(page: Page) -> None:
    word = f"aardvark{page.width_name}"  # type: ignore[attr-defined]
    new_session(page)
    say(page, f"the {word} question")
    expect(last_answer(page).locator(".stats")).to_contain_text("tok")
    new_session(page)
    say(page, "something else")
    expect(last_answer(page).locator(".stats")).to_contain_text("tok")
    sessions_panel(page)
    page.fill("#search", word)
    expect(page.locator("#session-list li")).to_have_count(1)
    expect(page.locator("#session-list li").first).to_contain_text(f"the {word} question")


def test_export_downloads_markdown(desktop: Page) -> None:
    new_session(desktop)
    say(desktop, "export me")
    expect(last_answer(desktop).locator(".stats")).to_contain_text("tok")
    desktop.click("#session-menu summary")
    with desktop.expect_download() as download:
        desktop.click("#export-md")
    text = Path(download.value.path()).read_text()
    assert "## user" in text and "export me" in text


def test_the_playground_compares_two_models(page: Page) -> None:
    new_session(page, kind="playground")
    page.select_option("#playground-models select[data-slot='0']", "fake/echo")
    page.select_option("#playground-models select[data-slot='1']", "fake/slow")
    say(page, "race")
    answers = page.locator("#playground-models .pg-answers .msg.assistant")
    expect(answers).to_have_count(2)
    expect(answers.nth(0).locator(".stats")).to_contain_text("ttft", timeout=15_000)
    expect(answers.nth(1).locator(".stats")).to_contain_text("ttft", timeout=15_000)
    expect(answers.nth(1).locator(".body")).to_contain_text("word39")
    if page.width_name == "desktop":  # type: ignore[attr-defined]
        shot(page, "playground")


@pytest.fixture(params=["desktop", "phone"])
def staff_page(request, browser, live) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    viewport = DESKTOP if request.param == "desktop" else PHONE
    page = open_page(browser, live, viewport, user="root")
    page.width_name = request.param  # type: ignore[attr-defined]
    yield page
    page.context.close()


def test_the_usage_page_draws_charts(staff_page: Page) -> None:
    page = staff_page
    page.goto("/usage/")
    expect(page.locator("#cost-chart svg rect.bar")).to_have_count(7)
    expect(page.locator("#tokens-chart rect.bar:not([height='0'])").first).to_be_visible()
    expect(page.locator("#breakdown tbody")).to_contain_text("echo")
    page.click("[data-group=provider]")
    expect(page.locator("#breakdown tbody tr").first).to_contain_text("fake")
    assert "format=csv" in (page.locator("#csv").get_attribute("href") or "")
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, f"usage-{page.width_name}")  # type: ignore[attr-defined]


def test_the_status_page_changes_live(browser: Browser, live: Live) -> None:
    page = open_page(browser, live, DESKTOP, user="root")
    page.goto("/status/")
    expect(page.locator("#live")).to_have_text("● live")
    row = page.locator("tr[data-provider]").first
    expect(row).to_have_attribute("data-healthy", "true")
    provider_id = row.get_attribute("data-provider")
    headers = {"Authorization": f"Bearer {live.admin_key}"}
    url = f"{live.url}/api/providers/{provider_id}/health"
    assert httpx.patch(url, json={"is_healthy": False}, headers=headers).status_code == 200
    expect(row).to_have_attribute("data-healthy", "false")
    expect(row.locator(".p-status")).to_contain_text("unhealthy")
    page.wait_for_timeout(1300)  # let the change highlight fade before the screenshot
    shot(page, "status")
    assert httpx.patch(url, json={"is_healthy": True}, headers=headers).status_code == 200
    expect(row).to_have_attribute("data-healthy", "true")
    page.context.close()


def test_the_status_page_is_for_staff(desktop: Page) -> None:
    desktop.goto("/status/")
    assert "/login/" in desktop.url


def test_a_documents_session_shows_the_documents_panel(desktop: Page) -> None:
    new_session(desktop, kind="documents")
    expect(desktop.locator("#documents-panel")).to_be_visible()
    new_session(desktop, kind="chat")
    expect(desktop.locator("#documents-panel")).to_be_hidden()


# --- model output and the Content-Security-Policy ----------------------------------------


class HitCounter:
    """An HTTP server on 127.0.0.1 that counts every request (a would-be tracking pixel)."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        counter = self
        self.hits: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                counter.hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(PIXEL_PNG)))
                self.end_headers()
                self.wfile.write(PIXEL_PNG)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hit_counter() -> Iterator[HitCounter]:
    counter = HitCounter()
    yield counter
    counter.close()


def test_an_answer_cannot_load_images_show_forms_or_restyle_the_page(
    desktop: Page, hit_counter: HitCounter
) -> None:
    pixel, markdown_pixel = f"{hit_counter.url}/x.png", f"{hit_counter.url}/md.png"
    hostile = (
        f'look <img src="{pixel}"> ![chart]({markdown_pixel}) '
        '<form action="/logout/"><input name="password"><button>send</button></form> '
        "<style>body{display:none}</style><p style=color:red>styled</p> "
        '<img src="data:image/png;base64,iVBORw0KGgo=" alt="inline">'
    )
    new_session(desktop)
    say(desktop, hostile)
    answer = last_answer(desktop)
    expect(answer.locator(".stats")).to_contain_text("tok")
    body = answer.locator(".body")
    expect(body.locator(f'a.remote-image[href="{pixel}"]')).to_have_count(1)
    expect(body.locator(f'a.remote-image[href="{markdown_pixel}"]')).to_contain_text("chart")
    expect(body.locator("img")).to_have_count(1)  # the data: one only
    for tag in ("form", "input", "button:not(.copy)", "style", "[style]"):
        expect(desktop.locator(f"#messages .body {tag}")).to_have_count(0)
    expect(body).to_contain_text("styled")
    assert desktop.evaluate("getComputedStyle(document.body).display") != "none"
    desktop.reload()  # the saved answer renders the same way
    desktop.wait_for_selector("#messages[data-loaded='1']")
    expect(last_answer(desktop).locator(f'a.remote-image[href="{pixel}"]')).to_have_count(1)
    assert hit_counter.hits == []  # nothing was even attempted: CSP would also block it
    # The counter does count: the test above could have failed.
    assert httpx.get(pixel).status_code == 200 and hit_counter.hits == ["/x.png"]


def test_the_console_pages_raise_no_policy_violation(browser: Browser, live: Live) -> None:
    page = open_page(browser, live, DESKTOP, user="root")
    for path in ("/", "/usage/", "/keys/", "/status/", "/admin/", "/admin/backups/"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert urlsplit(page.url).path == path  # the page itself, not a login redirect
    assert page.csp_violations == []  # type: ignore[attr-defined]
    page.context.close()


def test_the_api_docs_load_under_the_policy(browser: Browser, live: Live) -> None:
    context = browser.new_context(base_url=live.url)
    page = context.new_page()
    violations = watch_policy(page)
    page.goto("/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Switchboard management API")
    expect(page.locator(".opblock").first).to_be_visible()
    assert violations == []
    context.close()


def test_the_keys_page_creates_copies_and_revokes_a_key(browser: Browser, live: Live) -> None:
    page = open_page(browser, live, DESKTOP)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    page.goto("about:blank")  # the chat page behind the login is not this test's
    page.csp_violations.clear()  # type: ignore[attr-defined]
    page.goto("/keys/")
    page.wait_for_selector("body[data-ready]", state="attached")
    page.fill("#key-name", "browser laptop")
    page.click("#create-key")
    secret = page.locator("#secret")
    expect(secret).to_contain_text("sk-sb-")
    raw = secret.inner_text()
    expect(page.locator("#snippet")).to_contain_text(f"Authorization: Bearer {raw}")
    page.click("[data-snippet=claude]")
    expect(page.locator("#snippet")).to_contain_text(f"ANTHROPIC_AUTH_TOKEN={raw}")
    expect(page.locator("#snippet")).to_contain_text(f"ANTHROPIC_BASE_URL={live.url}")
    page.click("#copy")
    expect(page.locator("#copied")).to_have_text("copied")
    assert page.evaluate("navigator.clipboard.readText()") == raw
    shot(page, "keys")

    # The key works on /v1 at once, for alice's own use only.
    headers = {"Authorization": f"Bearer {raw}"}
    body = {"model": "fake/echo", "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(f"{live.url}/v1/chat/completions", json=body, headers=headers).is_success
    assert httpx.get(f"{live.url}/api/keys", headers=headers).status_code == 403

    page.click("#hide-created")
    expect(page.locator("#created")).to_be_hidden()
    page.reload()
    assert raw not in page.content()  # shown once: never again
    named = page.locator("#key-table tbody tr").filter(has_text=raw[:10]).first
    expect(named.locator("input[aria-label='key name']")).to_have_value("browser laptop")
    named.locator("button.danger").click()
    expect(named).to_have_attribute("data-active", "false")
    expect(named).to_contain_text("revoked")
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        response = httpx.post(f"{live.url}/v1/chat/completions", json=body, headers=headers)
        if response.status_code == 401:
            break
        time.sleep(0.1)
    assert response.status_code == 401
    assert page.csp_violations == []  # type: ignore[attr-defined]
    page.context.close()


def test_the_usage_page_shows_what_is_left_of_ones_quota(browser: Browser, live: Live) -> None:
    page = open_page(browser, live, DESKTOP)
    page.goto("/keys/")
    user_id = page.locator("#keys").get_attribute("data-user")
    headers = {"Authorization": f"Bearer {live.admin_key}"}
    quota = {"budget_usd": "5", "period": "month", "rpm_limit": 60}
    url = f"{live.url}/api/users/{user_id}/quota"
    assert httpx.put(url, json=quota, headers=headers).status_code == 200
    try:
        page.goto("/usage/")
        expect(page.locator("#quota")).to_be_visible()
        expect(page.locator("#quota-text")).to_contain_text("of $5.00 this month")
        expect(page.locator("#quota-text")).to_contain_text("60 requests per minute")
    finally:
        httpx.put(url, json={}, headers=headers)  # no limits for the other tests
        page.context.close()
