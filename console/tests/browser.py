"""The browser-test harness: a live ASGI server, Debian's Chromium, page helpers.

uvicorn runs config.asgi in a subprocess on a file SQLite database (pytest-django's live
server is WSGI and cannot stream); the fake LLM server runs in this process. The fixtures
are re-exported by console/tests/conftest.py; each test_browser_*.py module calls
`require_chromium()` first, so it is skipped, with the reason printed, without Chromium.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
PIXEL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8ffff3f0005fe02fea7d6a0d80000000049454e44ae426082"
)


def require_chromium() -> None:
    """Skip the calling test module, saying why, when Debian's Chromium is missing; under CI
    (CI=true) fail instead: a green run must have driven the browser."""
    from console.tests.browser_required import in_ci

    if not Path(CHROMIUM).exists():
        reason = f"browser tests skipped: no Chromium at {CHROMIUM} (apt-get install chromium)"
        print(reason, file=sys.stderr)
        if in_ci():
            pytest.fail(f"{reason}; CI=true needs them run", pytrace=False)
        pytest.skip(reason, allow_module_level=True)


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
    # Generous: on a busy two-core machine importing the app alone can take half a minute.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, "uvicorn exited early"
        try:
            if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("uvicorn did not start in 90 s")


class Live:
    def __init__(self, url: str, admin_key: str, env: dict[str, str] | None = None) -> None:
        self.url = url
        self.admin_key = admin_key
        self.env = env or {}  # the server's environment: `manage(live.env, ...)` seeds its db


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
        yield Live(url, admin_key, env)
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
    page.click("#new-session")
    # A draft has its own address; the session is saved (/c/<id>) with its first message.
    expect(page).to_have_url(re.compile(rf"/\?new={kind}$"))
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
