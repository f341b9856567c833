"""The local stack's /docs page in a real browser: Debian's chromium, headless, driven by Selenium.

`.ci/run` installs chromium and chromium-driver where they are missing; elsewhere the test is skipped
with the command that installs them.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.template import Template
from tests.conftest import ROOT
from tests.integration.conftest import RunningStack

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("no chromium here: apt-get install -y chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,2000",
    ):
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_the_docs_page_lists_every_route_and_tries_health(stack: RunningStack, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    # Given the page as a developer opens it
    browser.get(f"{stack.api_url}/docs")
    wait = WebDriverWait(browser, 30)
    wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    # Then every route of the template is listed
    listed = {
        (
            block.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text.strip().upper(),
            block.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute("data-path"),
        )
        for block in browser.find_elements(By.CSS_SELECTOR, ".opblock")
    }
    routes = {(route.method, route.path) for route in Template(ROOT / "template.yaml").http_routes()}
    assert listed == routes
    # When "Try it out" runs GET /health
    health = next(
        block
        for block in browser.find_elements(By.CSS_SELECTOR, ".opblock")
        if block.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute("data-path") == "/health"
    )
    health.find_element(By.CSS_SELECTOR, ".opblock-summary-control").click()
    wait.until(lambda _: health.find_elements(By.CSS_SELECTOR, ".try-out__btn"))
    health.find_element(By.CSS_SELECTOR, ".try-out__btn").click()
    wait.until(lambda _: health.find_elements(By.CSS_SELECTOR, ".execute"))
    health.find_element(By.CSS_SELECTOR, ".execute").click()
    # Then the live answer is 200 with the API's status
    wait.until(
        lambda _: health.find_elements(By.CSS_SELECTOR, ".live-responses-table tr.response .response-col_status")
    )
    status = health.find_element(By.CSS_SELECTOR, ".live-responses-table tr.response .response-col_status").text.strip()
    assert status.startswith("200")
    body = health.find_element(By.CSS_SELECTOR, ".live-responses-table tr.response .response-col_description").text
    assert '"status": "ok"' in body
