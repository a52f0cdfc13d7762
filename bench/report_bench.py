"""Report benchmark: 10,000 CIs, 500 drifted for 3 causes, rendered in every format.

Each format is rendered --repeat times (median quoted; budget 1 s each); the HTML page's size (budget
5 MB) and the time until it is interactive in headless Chromium (navigation start until its script has
wired the table: budget 2 s). Shapes vary — few causes, many causes, many untracked resources, long
drift values — and the worst is reported. Prints the load average: the machine is shared.

    python bench/report_bench.py [--cis 10000] [--drifted 500] [--repeat 5] [--no-browser]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from reconciler.model import Change, Drift, Item, RunResult, Source, Status
from reconciler.report.causes import find_causes
from reconciler.report.html import render_html
from reconciler.report.json import render_json
from reconciler.report.junit import render_junit
from reconciler.report.markdown import render_markdown
from reconciler.report.text import render_text

FORMATS: dict[str, Callable[[RunResult], str]] = {
    "text": render_text, "json": render_json, "markdown": render_markdown, "junit": render_junit,
    "html": render_html,
}
SHAPES = {  # name: (causes, untracked, value length)
    "3 causes": (3, 200, 10),
    "60 causes": (60, 200, 10),
    "3 causes, 5,000 untracked": (3, 5000, 10),
    "3 causes, long values": (3, 200, 400),
}


def make_result(cis: int, drifted: int, causes: int, untracked: int, value_len: int, seed: int = 7) -> RunResult:
    rng = random.Random(seed)
    kinds = [("packages.nginx", ">=1.22", "1.18.0-6"), ("packages.telnetd", "absent", "0.17-44"),
             ("files./etc/ssh/sshd_config.mode", "0600", "0644")]
    kinds += [(f"sysctl.net.ipv4.key_{n}", "0", "1") for n in range(max(0, causes - 3))]
    chosen = set(rng.sample(range(cis), drifted))
    items = []
    for n in range(cis):
        item = Item(ci=f"host-{n:05d}", kind="server", status=Status.IN_SYNC, identity={"host": f"host-{n:05d}"},
                    owner=f"team-{n % 7}")
        if n in chosen:
            path, desired, actual = kinds[n % causes]
            item.drift = [Drift(path, Change.CHANGED, desired, actual + "x" * value_len, "medium")]
            item.status, item.severity = Status.DRIFTED, "medium"
        items.append(item)
    items += [Item(ci=None, kind="aws.ec2.volume", status=None, severity="medium", flags=["untracked"],
                   identity={"account": "123456789012", "region": "eu-west-1", "id": f"vol-{n:08x}"},
                   details={"size_gb": 100, "tags": {"Owner": "data"}}) for n in range(untracked)]
    result = RunResult(id="bench", started_at="2026-12-02T10:00:00+00:00", finished_at="2026-12-02T10:01:00+00:00",
                       sources=[Source("ansible", "all", "ok")], items=items,
                       coverage={"declared_pct": 95.0, "owned_pct": 90.0, "configured_assets_pct": 88.0}, exit_code=2)
    result.causes = find_causes(items)
    return result


def timed(render: Callable[[RunResult], str], result: RunResult, repeat: int) -> tuple[float, str]:
    times, text = [], ""
    for _ in range(repeat):
        start = time.perf_counter()
        text = render(result)
        times.append(time.perf_counter() - start)
    return statistics.median(times), text


FILTER = """
const select = document.querySelector('select[data-filter=status]');
const start = performance.now();
select.value = 'drifted';
select.dispatchEvent(new Event('change'));
document.body.offsetHeight;  // force the layout the user would wait for
const spent = performance.now() - start;
select.value = '';
select.dispatchEvent(new Event('change'));
return spent;
"""


def interactive_seconds(page: Path, repeat: int) -> tuple[float, float]:
    """Medians of: page load until its script has wired the table; one filter change (with layout)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="report-bench-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 "--window-size=1366,900", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"))
    try:
        times, filters = [], []
        for _ in range(repeat):
            start = time.perf_counter()
            driver.get(page.as_uri())  # returns once the load event fired: the script has run
            ready = driver.execute_script("return document.body.getAttribute('data-ready')")
            assert ready == "1", "the page's script did not finish"
            times.append(time.perf_counter() - start)
            filters.append(driver.execute_script(FILTER) / 1000)
        return statistics.median(times), statistics.median(filters)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cis", type=int, default=10_000)
    parser.add_argument("--drifted", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}  (2 cores, shared)")
    worst: dict[str, float] = {}
    for shape, (causes, untracked, value_len) in SHAPES.items():
        result = make_result(args.cis, args.drifted, causes, untracked, value_len)
        figures = []
        for name, render in FORMATS.items():
            seconds, text = timed(render, result, args.repeat)
            worst[name] = max(worst.get(name, 0.0), seconds)
            figures.append(f"{name} {seconds * 1000:.0f} ms")
            if name == "html":
                size = len(text.encode())
                worst["html MB"] = max(worst.get("html MB", 0.0), size / 1e6)
                figures.append(f"html size {size / 1e6:.2f} MB")
                if not args.no_browser:
                    with tempfile.TemporaryDirectory() as tmp:
                        page = Path(tmp) / "report.html"
                        page.write_text(text, encoding="utf-8")
                        ready, filtering = interactive_seconds(page, max(3, args.repeat // 2))
                    worst["html interactive"] = max(worst.get("html interactive", 0.0), ready)
                    worst["html filter"] = max(worst.get("html filter", 0.0), filtering)
                    figures.append(f"interactive {ready * 1000:.0f} ms, a filter {filtering * 1000:.0f} ms")
        text_lines = render_text(result).count("\n")
        print(f"{shape}: {len(result.items)} items, {len(result.causes)} causes; " + ", ".join(figures)
              + f"; text report {text_lines} lines")
    print("worst: " + ", ".join(f"{k} {v:.2f}" + (" MB" if k.endswith("MB") else " s") for k, v in worst.items()))
    budget = {"html MB": 5.0, "html interactive": 2.0, "html filter": 2.0}
    over = [k for k, v in worst.items() if v > budget.get(k, 1.0)]
    print("budgets: " + ("all met" if not over else "OVER: " + ", ".join(over)))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
