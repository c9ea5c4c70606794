"""Under CI (CI=true) a skipped browser test fails the run.

A CI without Chromium would otherwise go green with every browser test skipped. The
module-level skip of a test_browser_*.py file becomes a failure in `require_chromium()`
(console/tests/browser.py); a browser-marked test that skips itself is caught here. The root
conftest.py loads this plugin for the whole suite.
"""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


class SkippedBrowserTests:
    def __init__(self) -> None:
        self.nodeids: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and "browser" in report.keywords:
            self.nodeids.append(report.nodeid)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.nodeids and exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:  # type: ignore[no-untyped-def]
        if not self.nodeids:
            return
        terminalreporter.section("browser tests skipped under CI", red=True)
        terminalreporter.line(
            f"{len(self.nodeids)} browser test(s) skipped; CI=true needs them run:"
        )
        for nodeid in self.nodeids:
            terminalreporter.line(f"  {nodeid}")


def pytest_configure(config: pytest.Config) -> None:
    if in_ci():
        config.pluginmanager.register(SkippedBrowserTests(), "skipped-browser-tests")
