"""Under CI=true a skipped browser test fails the run (console/tests/browser_required.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.tests import browser

ROOT = Path(__file__).resolve().parents[2]

SKIPPING = """
import pytest

@pytest.mark.browser
def test_needs_a_browser():
    pytest.skip("no browser on this machine")

def test_needs_nothing():
    pass
"""


def run_pytest(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(ROOT)
    if ci is not None:
        env["CI"] = ci
    command = [sys.executable, "-m", "pytest", "-c", os.devnull, "--rootdir", str(tmp_path),
               "-p", "console.tests.browser_required", "-p", "no:django", "-p", "no:cacheprovider",
               "-q", "test_skipping.py"]  # fmt: skip
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)


def test_a_skipped_browser_test_fails_the_run_under_ci(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, ci="true")
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout
    assert "browser tests skipped under CI" in done.stdout
    assert "test_skipping.py::test_needs_a_browser" in done.stdout


def test_outside_ci_it_is_only_a_skip(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, ci=None)
    assert done.returncode == pytest.ExitCode.OK, done.stdout
    assert "1 passed, 1 skipped" in done.stdout


def test_without_chromium_ci_fails_the_browser_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true needs them run"):
        browser.require_chromium()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        browser.require_chromium()
