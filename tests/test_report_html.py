"""The HTML report, opened from disk in a real headless Chromium: offline, filterable, sortable, expandable."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from .browser import chromium, console_errors, requested_urls
from .fleet_world import write_fleet


@pytest.fixture
def page(cli, project, tmp_path):
    """A fleet of 30 web servers, 20 on an old nginx and 2 with telnetd, run twice: the second run's page."""
    write_fleet(project, 30, old_nginx=range(20), telnetd=(25, 26))
    cli("--project", str(project.root), "run", "--format", "json")
    target = tmp_path / "report.html"
    result = cli("--project", str(project.root), "run", "--format", "html", "--output", str(target))
    assert result.code == 2, result.err
    return target


@pytest.fixture
def browser(tmp_path):
    with chromium(tmp_path / "profile") as driver:
        yield driver


def _open(browser, page):
    requested_urls(browser)  # drain what the browser itself loaded at start (its new-tab page)
    browser.get(page.as_uri())
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))


def _shown(browser) -> list[str]:
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('#items tbody tr')).filter(r => !r.hidden)"
        ".map(r => r.cells[0].textContent)")


def test_the_page_is_one_file_that_loads_offline_without_errors_or_requests(browser, page, tmp_path):
    html = page.read_text()
    assert "http://" not in html and "https://" not in html and "<link rel=\"stylesheet\"" not in html
    _open(browser, page)
    assert console_errors(browser) == []
    # data: URLs never reach a network; anything else but the file itself would
    urls = requested_urls(browser, document=page.as_uri())
    assert page.as_uri() in urls  # the log does see requests: the page's own load is one
    assert [url for url in urls if url != page.as_uri() and not url.startswith("data:")] == []
    assert browser.find_element(By.ID, "count").text == "30 of 30 items shown"
    assert browser.find_element(By.CSS_SELECTOR, "#causes-h").text == "Causes (2)"
    assert browser.find_element(By.CSS_SELECTOR, "svg[role=img] title").get_attribute("textContent").endswith("over 2 runs")
    browser.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_filters_narrow_the_table(browser, page):
    _open(browser, page)
    Select(browser.find_element(By.CSS_SELECTOR, "select[data-filter=status]")).select_by_value("drifted")
    assert len(_shown(browser)) == 22
    Select(browser.find_element(By.CSS_SELECTOR, "select[data-filter=owner]")).select_by_value("team-shop")
    assert len(_shown(browser)) == 11 and browser.find_element(By.ID, "count").text == "11 of 30 items shown"
    search = browser.find_element(By.ID, "q")
    search.send_keys("telnetd")
    assert _shown(browser) == ["web-25"]


def test_a_drifted_ci_expands_to_desired_and_actual(browser, page):
    _open(browser, page)
    row = browser.find_element(By.XPATH, "//tr[td[1]='web-25']")
    details = row.find_element(By.TAG_NAME, "details")
    assert not details.get_attribute("open") and not details.find_element(By.TAG_NAME, "ul").is_displayed()
    details.find_element(By.TAG_NAME, "summary").click()
    assert details.get_attribute("open") is not None
    assert "packages.telnetd: absent → 0.17-44 (unexpected" in details.find_element(By.TAG_NAME, "ul").text


def test_sort_buttons_sort_by_click_and_by_keyboard(browser, page):
    _open(browser, page)
    item = browser.find_element(By.CSS_SELECTOR, "button[data-col='0']")
    item.click()
    assert _shown(browser)[:2] == ["web-00", "web-01"]
    item.send_keys(Keys.ENTER)  # a real button: focusable, Enter activates it
    assert _shown(browser)[:2] == ["web-29", "web-28"]
    assert item.find_element(By.XPATH, "..").get_attribute("aria-sort") == "descending"
    severity = browser.find_element(By.CSS_SELECTOR, "button[data-col='3']")
    severity.click()
    severity.click()  # descending: the most severe first
    first = browser.find_element(By.CSS_SELECTOR, "#items tbody tr")
    assert first.get_attribute("data-severity") == "medium" and first.get_attribute("data-status") == "drifted"


def test_report_re_renders_a_recorded_run_as_html(cli, project, tmp_path):
    write_fleet(project, 3, old_nginx=(1,))
    run = cli("--project", str(project.root), "run", "--format", "json").json()
    html = cli("--project", str(project.root), "report", run["run"]["id"], "--format", "html")
    assert html.code == 2 and "<table id=\"items\">" in html.out and "web-01" in html.out


def test_a_fleet_sized_page_shows_problems_first_and_pages_through_the_rest(browser, tmp_path):
    from reconciler.model import Change, Drift, Item, RunResult, Status
    from reconciler.report.html import render_html

    items = [Item(ci=f"host-{n:05d}", kind="server", status=Status.IN_SYNC, identity={"host": f"host-{n:05d}"},
                  owner="team-a") for n in range(1200)]
    for item in items[1100:1150]:
        item.status, item.severity = Status.DRIFTED, "high"
        item.drift = [Drift("packages.nginx", Change.CHANGED, ">=1.22", "1.18.0", "high")]
    page = tmp_path / "fleet.html"
    page.write_text(render_html(RunResult("r", "2026-12-02T10:00:00+00:00", "2026-12-02T10:01:00+00:00", [], items)))
    _open(browser, page)
    assert browser.find_element(By.ID, "count").text == "1200 of 1200 items match, the first 500 shown"
    assert _shown(browser)[0] == "host-01100" and len(_shown(browser)) == 500  # the drifted ones first
    browser.find_element(By.ID, "more").click()
    assert len(_shown(browser)) == 1000
    Select(browser.find_element(By.CSS_SELECTOR, "select[data-filter=status]")).select_by_value("drifted")
    assert len(_shown(browser)) == 50 and not browser.find_element(By.ID, "more").is_displayed()
    Select(browser.find_element(By.CSS_SELECTOR, "select[data-filter=status]")).select_by_value("")
    browser.find_element(By.CSS_SELECTOR, "button[data-col='0']").click()
    browser.find_element(By.CSS_SELECTOR, "button[data-col='0']").click()
    assert _shown(browser)[0] == "host-01199" and len(_shown(browser)) == 500
    assert console_errors(browser) == []
