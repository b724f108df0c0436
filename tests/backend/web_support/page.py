"""What the browser tests of the web page share: the fixtures (SQLite, the service's sign-in
domain at the test server's host, Debian's chromium), the wallet stand-in injected into a page,
screenshots, a watch on what the page fetched, and connecting and signing in.

A test module imports the fixtures it uses (``from web_support.page import browser, ...``): pytest
takes fixtures from the module's namespace, and ``settings`` here overrides conftest's."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from labelshare.web import BUNDLE

ROOT = Path(__file__).resolve().parents[3]
WALLET_JS = Path(__file__).resolve().parent / "wallet.js"
# anvil's published development account #9: unlocked on the test anvil, used only by the page tests.
ANNOTATOR = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"

__all__ = ["ANNOTATOR", "PageWatch", "Screenshots", "browser", "connect_and_sign_in", "database_url", "open_page",
           "settings", "wallet_context"]


@pytest.fixture
def database_url(tmp_path) -> str:
    # SQLite only: the page talks to the API alone, whose storage the other backend tests run on
    # SQLite and PostgreSQL; a second browser run would double a test's time for no new check.
    return f"sqlite:///{tmp_path / 'labelshare.db'}"


@pytest.fixture
def settings(settings, api_port):
    # The browser's sign-in message names the page's host, which must be the service's SIWE domain.
    return settings.model_copy(update={"siwe_domain": f"127.0.0.1:{api_port}"})


@pytest.fixture
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).is_file():
        pytest.fail("chromium is not installed: run `make setup` (it installs Debian's chromium package)")
    if not BUNDLE.is_file():
        pytest.fail(f"the web page's bundle {BUNDLE} is missing: run `make setup`")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True)
        yield browser
        browser.close()


class Screenshots:
    """Saves full-page screenshots under tmp_path, and into docs/screenshots/ for the README when
    LABELSHARE_SCREENSHOTS is set (`make screenshots`)."""

    def __init__(self, tmp_path: Path) -> None:
        self.folders = [tmp_path / "screenshots"]
        if os.environ.get("LABELSHARE_SCREENSHOTS"):
            self.folders.append(ROOT / "docs" / "screenshots")
        for folder in self.folders:
            folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, page: Page, name: str) -> None:
        png = page.screenshot(full_page=True, animations="disabled")
        for folder in self.folders:
            (folder / f"{name}.png").write_bytes(png)


def wallet_context(browser: Browser, rpc_url: str, address: str, name: str, signer: str) -> BrowserContext:
    """A browser context whose pages get the wallet stand-in (web_support/wallet.js) for ``address``:
    ``signer`` "anvil" (anvil holds the key) or "python" (the test exposes labelshareTestSign)."""
    context = browser.new_context(viewport={"width": 1200, "height": 860})
    config = {"rpcUrl": rpc_url, "address": address, "name": name, "rdns": "dev.labelshare.test-wallet",
              "signer": signer}
    context.add_init_script(f"const WALLET = {json.dumps(config)};\n{WALLET_JS.read_text()}")
    return context


class PageWatch:
    """Uncaught page errors, and every URL the page fetched (all must be the API or the chain)."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        self.urls: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("request", lambda request: self.urls.append(request.url))

    def check(self, *origins: str) -> None:
        assert not self.errors, self.errors
        foreign = [u for u in self.urls if not u.startswith(("data:", *origins))]
        assert not foreign, f"the page fetched from elsewhere: {foreign}"


def open_page(page: Page, url: str) -> PageWatch:
    watch = PageWatch(page)
    page.goto(f"{url}/app/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    return watch


def connect_and_sign_in(page: Page, address: str) -> str:
    """Connects the announced wallet and signs in; returns the session's bearer token."""
    option = page.get_by_test_id("wallet-option").filter(has_text="Test wallet")
    expect(option).to_have_count(1)
    option.click()
    expect(page.get_by_test_id("wallet-address")).to_have_text(address)
    expect(page.get_by_test_id("chain-warning")).to_be_hidden()
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("session-address")).to_have_text(address)
    expect(page.get_by_test_id("sign-in-error")).to_be_hidden()
    return page.evaluate("JSON.parse(sessionStorage.getItem('labelshare.session')).token")
