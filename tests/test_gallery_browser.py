"""The gallery in a real browser: every image decodes and every video plays in headless Chromium.

An MP4 that ffprobe accepts but a browser will not play is a broken deliverable, so this test renders a
small batch, opens its index.html from disk and asks Chromium what it decoded. It is skipped where
Chromium or its driver is not installed (`.ci/run` installs the Debian packages chromium and
chromium-driver, so in CI it runs).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shrinkvis.cli import app

CHROMIUM_NAMES = ("chromium", "chromium-browser")
LOAD_TIMEOUT = 60  # seconds for every image and video of the page to load: generous for a busy machine
# no between-cluster variance at all: with this seed the REML estimate of sd_int is 0, a singular fit
SINGULAR = "data:\n  sd_int: 0\n  seed: 2\nmodel:\n  random: intercept\n"
SMALL = ["animation.frames=8", "data.n_cluster=15", "animation.width=480", "animation.height=360"]

# Flags that start Chromium as root, without a GPU, and keep it off the network.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--window-size=1280,900",
    "--hide-scrollbars",
)

# What the page decoded, asked of the browser: false until every image and video has loaded.
MEDIA_STATE = """
const images = [...document.images].map(i => ({src: i.getAttribute("src"), complete: i.complete,
                                                width: i.naturalWidth}));
const videos = [...document.querySelectorAll("video")].map(v => ({src: v.getAttribute("src"),
    ready: v.readyState, width: v.videoWidth, error: v.error && v.error.code}));
const settled = images.every(i => i.complete) && videos.every(v => v.ready >= 2 || v.error);
return settled ? {images, videos} : false;
"""


def _executable(names: tuple[str, ...]) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    chromium = _executable(CHROMIUM_NAMES)
    driver_path = _executable(("chromedriver",))
    if chromium is None or driver_path is None:
        pytest.skip(
            "Chromium is not installed (needs chromium and chromedriver on PATH: "
            "apt-get install chromium chromium-driver, as .ci/run does)"
        )
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install '.[test]')"
    )
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="shrinkvis-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # an explicit driver path: selenium then never tries to download one
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def batch_out(tmp_path_factory) -> Path:
    """A small batch: two built-in scenarios and one whose fit is singular, rendered into a temporary root."""
    root = tmp_path_factory.mktemp("gallery")
    singular = root / "flat.yaml"
    singular.write_text("title: No between-cluster variance\n" + SINGULAR)
    out = root / "out"
    args = ["batch", "baseline", "fewer_obs", str(singular), "--out", str(out)]
    result = CliRunner().invoke(app, args + [arg for item in SMALL for arg in ("--set", item)])
    assert result.exit_code == 0, result.output
    return out


def _wait_for_media(browser) -> dict:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, LOAD_TIMEOUT, poll_frequency=0.2).until(
        lambda driver: driver.execute_script(MEDIA_STATE)
    )


def _requested_urls(browser, page: str) -> set[str]:
    """The URLs `page` requested, from Chromium's DevTools network log (the browser's own pages aside)."""
    urls = set()
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent" and message["params"]["documentURL"] == page:
            urls.add(message["params"]["request"]["url"])
    return urls


def _full_page_screenshot(browser, path: Path) -> None:
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, height + 140)  # the window frame takes some of the height
    browser.save_screenshot(str(path))
    browser.set_window_size(1280, 900)


def test_every_image_decodes_and_every_video_plays(browser, batch_out):
    page = (batch_out / "index.html").resolve().as_uri()
    browser.get(page)
    state = _wait_for_media(browser)

    folders = ("baseline", "fewer_obs", "flat")
    # each folder's files are named after the view it was drawn in (a random-intercept model: funnel)
    views = {
        name: json.loads((batch_out / name / "summary.json").read_text())["scenario"]["animation"]["view"]
        for name in folders
    }
    assert sorted(video["src"] for video in state["videos"]) == [
        f"{name}/{views[name]}.mp4" for name in folders
    ]
    for video in state["videos"]:
        assert video["error"] is None, video
        assert video["ready"] >= 2, video  # HAVE_CURRENT_DATA: a frame was decoded
        assert video["width"] == 480, video
    assert sorted(image["src"] for image in state["images"]) == sorted(
        f"{name}/{stem}"
        for name in folders
        for stem in (
            f"{views[name]}.gif",
            f"{views[name]}.png",
            f"{views[name]}_start.png",
            f"{views[name]}.svg",
            "shrinkage_by_size.png",
        )
    )
    for image in state["images"]:
        assert image["width"] > 0, image  # naturalWidth: the image decoded
        if image["src"].endswith(".gif") or image["src"].endswith(f"{views[image['src'].split('/')[0]]}.png"):
            assert image["width"] == 480, image  # animation frames decode at the size they were rendered

    # nothing went to the network: the page's requests were files beside it (and the data: icons of
    # Chromium's own video controls)
    requests = _requested_urls(browser, page)
    assert f"{batch_out.resolve().as_uri()}/baseline/shrinkage.mp4" in requests
    assert all(url.startswith(("file://", "data:")) for url in requests), requests
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []

    # the singular fit is flagged where a reader sees it
    flat = browser.find_element("id", "scenario-flat")
    assert json.loads((batch_out / "flat" / "summary.json").read_text())["is_singular"] is True
    assert "Singular fit" in flat.text
    assert "Singular fit" not in browser.find_element("id", "scenario-baseline").text

    screenshot = batch_out.parent / "gallery.png"
    _full_page_screenshot(browser, screenshot)
    assert screenshot.stat().st_size > 10_000

    # the first Tab reaches the skip link, which then shows
    from selenium.webdriver.common.keys import Keys

    skip = browser.find_element("class name", "skip")
    assert skip.location["x"] < 0  # off screen until focused
    browser.find_element("tag name", "body").send_keys(Keys.TAB)
    focused = browser.switch_to.active_element
    assert focused == skip and skip.location["x"] > 0


def test_dark_mode(browser, batch_out):
    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
    )
    try:
        browser.get((batch_out / "index.html").resolve().as_uri())
        _wait_for_media(browser)
        background = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
        channels = [int(part) for part in background[background.index("(") + 1 : -1].split(",")[:3]]
        assert max(channels) < 60, background
        _full_page_screenshot(browser, batch_out.parent / "gallery-dark.png")
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
