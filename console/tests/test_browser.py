"""The console in a real Chromium against a live ASGI server and a fake upstream.

uvicorn runs config.asgi in a subprocess on a file SQLite database (pytest-django's live
server is WSGI and cannot stream); the fake LLM server runs in this process. Skipped, with
the reason printed, when Debian's Chromium is not installed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
PIXEL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8ffff3f0005fe02fea7d6a0d80000000049454e44ae426082"
)

pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    reason = f"browser tests skipped: no Chromium at {CHROMIUM} (apt-get install chromium)"
    print(reason, file=sys.stderr)
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

SEED = """
from datetime import timedelta
from django.contrib.auth.models import User
from django.utils import timezone
from chat.models import ApiKey
from console.models import Profile
from providers.models import ModelInfo, Provider
from usage.models import UsageLog

User.objects.create_user("alice", password="alice-password")
User.objects.create_superuser("root", password="root-password")
provider = Provider.objects.create(
    name="fake", kind="openai_compatible", base_url="{base_url}", api_key="sk-fake",
    models={models!r},
)
for model in {models!r}:
    ModelInfo.objects.create(
        provider=provider, model_id=model, context_length=8192, prompt_price="0.000001",
        completion_price="0.000002", supports_vision=model == "vision",
    )
Profile.objects.create(name="pirate", system_prompt="Talk like a pirate.", temperature=0.9)
Profile.objects.create(name="terse", system_prompt="Answer in one line.", temperature=0.2)
now = timezone.now()
seeded = [(5, "echo", 1200), (3, "vision", 800), (1, "echo", 2500), (0, "slow", 400)]
for days, model, tokens in seeded:
    log = UsageLog.objects.create(
        request_id=f"seed-{{days}}", source="console", provider="fake", model=model,
        prompt_tokens=tokens, completion_tokens=tokens // 2, total_tokens=tokens * 3 // 2,
        cost_usd=tokens * 0.00002, status="ok", stream=True, attempts=1,
    )
    UsageLog.objects.filter(pk=log.pk).update(created_at=now - timedelta(days=days))
print(ApiKey.issue("browser-tests", scopes=["chat", "admin"])[1])
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(
        DATA_DIR=str(data_dir),
        DATABASE_URL=f"sqlite:///{data_dir / 'db.sqlite3'}",
        CSRF_TRUSTED_ORIGINS=f"http://127.0.0.1:{port}",
        HEALTH_CHECK_ENABLED="false",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "uvicorn exited early"
        try:
            if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("uvicorn did not start in 30 s")


class Live:
    def __init__(self, url: str, admin_key: str) -> None:
        self.url = url
        self.admin_key = admin_key


@pytest.fixture(scope="session")
def live(fake_llm_server, tmp_path_factory) -> Iterator[Live]:  # type: ignore[no-untyped-def]
    from console.tests.conftest import FAKE_MODELS

    data_dir = tmp_path_factory.mktemp("live")
    port = free_port()
    env = server_env(data_dir, port)
    manage(env, "migrate", "--noinput")
    seed = SEED.format(base_url=f"{fake_llm_server.url}/v1", models=FAKE_MODELS)
    admin_key = manage(env, "shell", "-c", seed).strip().splitlines()[-1]
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port),
         "--host", "127.0.0.1", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process)
        yield Live(url, admin_key)
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


def watch_policy(page: Page) -> list[str]:
    """Collect the page's Content-Security-Policy violations (console messages)."""
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            "Content Security Policy" in message.text
            and violations.append(f"{message.text} @ {message.location}")
        ),
    )
    page.csp_violations = violations  # type: ignore[attr-defined]
    return violations


def open_page(browser: Browser, live: Live, viewport: dict[str, int], user: str = "alice") -> Page:
    # Desktop in dark, phone in light: the screenshots show both themes.
    scheme = "light" if viewport == PHONE else "dark"
    context = browser.new_context(
        viewport=viewport, base_url=live.url, accept_downloads=True, color_scheme=scheme
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("pageerror", lambda error: print("page error:", error, file=sys.stderr))
    watch_policy(page)
    page.goto("/login/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", f"{user}-password")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.url}/")
    page.wait_for_selector("body[data-ready]", state="attached")
    return page


@pytest.fixture(params=["desktop", "phone"])
def page(request, browser, live) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    viewport = DESKTOP if request.param == "desktop" else PHONE
    page = open_page(browser, live, viewport)
    page.width_name = request.param  # type: ignore[attr-defined]
    yield page
    page.context.close()


@pytest.fixture
def desktop(browser, live) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    page = open_page(browser, live, DESKTOP)
    yield page
    page.context.close()


def sessions_panel(page: Page) -> None:
    """On a phone the session list hides behind ☰."""
    if page.viewport_size and page.viewport_size["width"] < 700:
        page.click("#toggle-sessions")


def new_session(page: Page, kind: str = "chat", model: str = "fake/echo") -> None:
    sessions_panel(page)
    page.select_option("#new-type", kind)
    before = page.url
    page.click("#new-session")
    expect(page).not_to_have_url(before)
    expect(page.locator("#messages")).to_have_attribute("data-loaded", "1")
    expect(page.locator("#type-badge")).to_have_text(kind)
    if kind != "playground":
        choose_model(page, model)


def choose_model(page: Page, model: str) -> None:
    page.click("#model-button")
    page.fill("#model-filter", model.split("/")[-1])
    page.click(f"#model-list li[data-id='{model}']")
    expect(page.locator("#model-name")).to_have_text(model)


def say(page: Page, text: str) -> None:
    page.fill("#input", text)
    page.press("#input", "Enter")


def last_answer(page: Page):  # type: ignore[no-untyped-def]
    return page.locator("#messages .msg.assistant").last


def shot(page: Page, name: str) -> None:
    """The README's screenshots, retaken only on request (`UPDATE_SCREENSHOTS=1`): a test
    run must not rewrite tracked files."""
    if os.environ.get("UPDATE_SCREENSHOTS") != "1":
        page.screenshot()  # still renders the page: a broken layout fails here too
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


# --- tests ---------------------------------------------------------------------------


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


def test_regenerate_replaces_the_last_answer(desktop: Page) -> None:
    new_session(desktop)
    say(desktop, "again please")
    expect(last_answer(desktop).locator(".stats")).to_contain_text("tok")
    first_id = last_answer(desktop).get_attribute("data-id")
    last_answer(desktop).get_by_text("↻ regenerate").click()
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
    answers = page.locator("#messages .compare .msg.assistant")
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
    for path in ("/", "/usage/", "/status/", "/admin/", "/admin/backups/"):
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
