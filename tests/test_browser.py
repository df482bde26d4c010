"""The playground end to end, in Debian's chromium driven by Playwright.

A real `rutradar serve` on a free loopback port over a fresh SQLite database seeded with
`rutradar demo`: Ada checks in from the prompt the dispatcher sends her, Radia closes the
round from the admin panel, and Grace reads the released team summary. Screenshots of the
advice and the summary go to docs/ for the README.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else shutil.which("chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="chromium is not installed (/usr/bin/chromium or `chromium` on PATH): "
        "the browser tests are skipped; `apt-get install chromium` to run them",
    ),
]

ROOT = Path(__file__).resolve().parent.parent
# Screenshots go to a temporary folder unless RUTRADAR_SCREENSHOTS names one (the README's
# images are refreshed with `RUTRADAR_SCREENSHOTS=docs make test`): tests never edit the tree.
SHOTS_ENV = "RUTRADAR_SCREENSHOTS"
RUTRADAR = Path(sys.executable).parent / "rutradar"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
STARTUP_SECONDS = 30.0
# The page polls its inbox every 1.5 s; the dispatcher sends prompts within seconds of start.
WAIT_MS = 15_000


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(
        [str(RUTRADAR), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, (
        f"rutradar {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )


def _pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    """Drain the server's stdout so it can never block on a full pipe."""
    for line in stream:
        lines.put(line)


def _wait_ready(proc: subprocess.Popen[str], lines: queue.Queue[str], base: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS

    def fail(why: str) -> None:
        pytest.fail(f"rutradar serve {why}; its log:\n{log.read_text(errors='replace')[-4000:]}")

    seen = ""
    while "listening" not in seen:
        if proc.poll() is not None:
            fail(f"exited with {proc.returncode} before listening")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            fail("did not print its 'listening' line in time")
        try:
            seen = lines.get(timeout=min(remaining, 0.5))
        except queue.Empty:
            continue
    # The line is printed once the socket is bound and start-up ran: one check suffices.
    try:
        with urllib.request.urlopen(f"{base}readyz", timeout=10) as res:
            if res.status == 200:
                return
    except (urllib.error.URLError, OSError) as exc:
        fail(f"did not answer /readyz after announcing itself ({exc})")
    fail("was not ready on /readyz after announcing itself")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`rutradar serve` over a freshly seeded demo database; yields its base URL."""
    if not RUTRADAR.exists():
        pytest.skip(f"{RUTRADAR} is missing: install the project into this venv first")
    tmp = tmp_path_factory.mktemp("playground")
    port = _free_port()
    env = {
        **os.environ,
        "RUTRADAR_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'rutradar.db'}",
        "RUTRADAR_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("RUTRADAR_HOST", None)
    _run(["db", "upgrade"], env)
    _run(["demo"], env)
    log = tmp / "serve.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [str(RUTRADAR), "serve"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    assert proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
    base = f"http://127.0.0.1:{port}/"
    try:
        _wait_ready(proc, lines, base, log)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, base_url=server)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)
    pg.goto("/")
    try:
        yield pg
    finally:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get(SHOTS_ENV)
    folder = (ROOT / chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def be(page: Page, label: str) -> None:
    """Pick a person in the "You are" select and wait until the page has switched to them."""
    option = page.locator("#person option", has_text=label)
    expect(option).to_have_count(1)
    user_id = option.get_attribute("data-user-id") or ""
    page.select_option("#person", label=label)
    expect(page.locator("#who")).to_contain_text(user_id)
    expect(page.locator("#quick button[data-command]").first).to_be_visible()


def test_checkin_close_and_summary(page: Page, tmp_path_factory: pytest.TempPathFactory) -> None:
    transcript = page.locator("#transcript")
    dialog = page.locator("#dialog")

    # Ada: the dispatcher's prompt reaches her through the inbox polling.
    be(page, "Ada Lovelace (member)")
    expect(page.locator("#who")).to_contain_text("member of Platform")
    prompt = transcript.locator(".bubble.bot", has_text="Time for your Platform check-in")
    expect(prompt).to_have_count(1)
    prompt.get_by_role("button", name="Check in").click()

    expect(dialog).to_be_visible()
    form = dialog.locator("form.rr-form")
    expect(form.locator("h3")).to_have_text("Career check-in")
    for practice, score in (
        ("assess", 4),
        ("routine", 1),
        ("training", 4),
        ("strengths", 5),
        ("path", 3),
    ):
        selector = f'input[type="radio"][name="{practice}"][value="{score}"]'
        # The radios are visually hidden behind round "chips": click the label, as people do.
        form.locator("label", has=page.locator(selector)).click()
        expect(form.locator(selector)).to_be_checked()
    form.locator('textarea[name="comment"]').fill("More time for deep work, please.")
    expect(form.locator('input[name="share"]')).not_to_be_checked()
    form.get_by_role("button", name="Get my advice").click()

    expect(dialog).to_contain_text("Counted for 2026-W")
    expect(dialog.locator(".rr-section h4").first).to_have_text("Overhaul your routine")
    expect(dialog).not_to_contain_text("More time for deep work")
    shots = screenshot_dir(tmp_path_factory)
    page.screenshot(path=str(shots / "playground.png"))
    page.locator("#dialog-close").click()
    expect(dialog).to_be_hidden()

    # The prompt bubble is updated in place, not joined by a second one.
    expect(transcript.locator(".bubble.bot").first).to_contain_text("You checked in for 2026-W")
    expect(transcript.get_by_text("Time for your Platform check-in")).to_have_count(0)

    # Radia, the admin, closes the round: Ada plus the five who answered before her.
    be(page, "Radia Perlman (admin)")
    page.get_by_role("button", name="Admin panel").click()
    panel = transcript.locator(".bubble.bot", has_text="Rut Radar admin").last
    expect(panel).to_contain_text("Platform")
    panel.get_by_role("button", name="Close round").click()
    # An irreversible close asks first, saying what will happen.
    confirm = transcript.locator(".bubble.bot", has_text="This cannot be undone").last
    expect(confirm).to_contain_text("the results will be released to 1 manager")
    page.screenshot(path=str(shots / "playground-close-confirmation.png"))
    confirm.get_by_role("button", name="Yes, close it").click()
    expect(transcript).to_contain_text("Released: 6 of")
    expect(transcript.locator(".bubble.error")).to_have_count(0)

    # Grace, the manager, reads the released summary.
    be(page, "Grace Hopper (manager)")
    page.get_by_role("button", name="Team summary").click()
    expect(dialog).to_be_visible()
    expect(dialog.locator("h3").first).to_contain_text("Platform")
    # The newly released round, not the "6 of 8 have answered so far" of an open one.
    expect(dialog).to_contain_text(re.compile(r"\d{4}-W\d{2}: 6 of \d+ answered"))
    expect(dialog.locator(".rr-section h4", has_text="⚠")).not_to_have_count(0)
    expect(dialog).to_contain_text("Needs attention most")
    expect(dialog.locator(".rr-chart svg")).to_have_count(5)  # one chart per practice
    expect(dialog.locator(".rr-chart svg polyline").first).to_be_attached()
    # Two measures under two names, each defined where it is shown; charts with a legend.
    expect(dialog.locator(".rr-section dt", has_text="Scored 1–2")).to_have_count(5)
    expect(dialog).to_contain_text("Scored 1–2: the share of answers that were 1 or 2")
    expect(dialog).to_contain_text("Stuck overall: ")
    expect(dialog).not_to_contain_text("In a rut")
    expect(dialog).not_to_contain_text("+0.0")
    legend = dialog.locator("figure.rr-trend .rr-legend")
    expect(legend).to_contain_text("Scale 1 (stuck) to 5 (thriving)")
    expect(legend).to_contain_text("Dashed line: a mean of 2.5 or less, a rut")
    expect(legend).to_contain_text("Withheld: too few answered (W")
    expect(dialog.locator(".rr-chart svg text.rr-x-withheld")).to_have_count(5)
    page.screenshot(path=str(shots / "playground-summary.png"))
    # The whole summary, scrolled through: its definitions and the charts with their legend.
    dialog.locator("figure.rr-trend").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "playground-summary-charts.png"))


def test_a_manager_of_several_teams_gets_an_overview(
    page: Page, tmp_path_factory: pytest.TempPathFactory
) -> None:
    transcript = page.locator("#transcript")
    dialog = page.locator("#dialog")
    # Radia makes Grace the manager of a second, new team too.
    be(page, "Radia Perlman (admin)")
    for command in ("/rut admin team add Mobile", "/rut admin team managers add Mobile U-grace"):
        page.locator("#command").fill(command)
        page.locator("#composer").get_by_role("button", name="Send").click()
        expect(transcript.locator(".bubble.me").last).to_have_text(command)
    expect(transcript.locator(".bubble.bot").last).to_contain_text("Mobile")
    expect(transcript.locator(".bubble.error")).to_have_count(0)

    be(page, "Grace Hopper (manager)")
    page.get_by_role("button", name="Team summary").click()
    expect(dialog).to_be_visible()
    expect(dialog.locator("h3").first).to_have_text("Your teams")
    expect(dialog).to_contain_text("You manage 2 teams")
    expect(dialog).not_to_contain_text("Which one")
    rows = dialog.locator(".rr-section")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("h4")).to_have_text("Mobile")
    expect(rows.nth(0)).to_contain_text("none closed yet")
    expect(rows.nth(1).locator("h4")).to_have_text("Platform")
    expect(rows.nth(1)).to_contain_text("Needs attention")
    expect(rows.nth(1)).to_contain_text(re.compile(r"\d+ of \d+ \(\d+%\)"))
    shots = screenshot_dir(tmp_path_factory)
    page.screenshot(path=str(shots / "playground-overview.png"))

    dialog.get_by_role("button", name="Open Platform").click()
    expect(dialog).to_be_visible()
    expect(dialog.locator("h3").first).to_have_text("Platform: team check-in")


def test_member_asking_for_a_summary_is_refused_politely(page: Page) -> None:
    be(page, "Ada Lovelace (member)")
    page.locator("#command").fill("/rut summary")
    page.locator("#composer").get_by_role("button", name="Send").click()
    transcript = page.locator("#transcript")
    expect(transcript.locator(".bubble.me").last).to_have_text("/rut summary")
    reply = transcript.locator(".bubble.bot", has_text="managers")
    expect(reply).to_have_count(1)
    expect(reply).not_to_contain_text("Traceback")
    expect(reply).not_to_contain_text("Something went wrong")
    expect(page.locator("#dialog")).to_be_hidden()


def test_typed_advice_is_a_reply_and_a_practice_button_a_dialog(
    page: Page, tmp_path_factory: pytest.TempPathFactory
) -> None:
    be(page, "Ada Lovelace (member)")
    transcript = page.locator("#transcript")
    page.locator("#command").fill("/rut advice routine")
    page.locator("#composer").get_by_role("button", name="Send").click()
    reply = transcript.locator(".bubble.bot", has_text="Overhaul your routine")
    expect(reply).to_have_count(1)
    expect(reply).to_contain_text("After a week")  # the rut level's piece and its follow-up
    expect(page.locator("#dialog")).to_be_hidden()  # said in the chat, seen by Ada only
    page.screenshot(path=str(screenshot_dir(tmp_path_factory) / "playground-typed-advice.png"))

    page.locator("#command").fill("/rut advice")
    page.locator("#composer").get_by_role("button", name="Send").click()
    menu = transcript.locator(".bubble.bot").last
    menu.get_by_role("button", name="Overhaul your routine").click()
    dialog = page.locator("#dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Overhaul your routine")


PHONE: ViewportSize = {"width": 390, "height": 844}


def test_a_phone_a_reload_and_an_empty_chat(
    browser: Browser, server: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """At 390 px the page fits without sideways scrolling; a reload keeps the person; an empty
    chat says what will arrive there; the check-in's submit button is off while sending."""
    context = browser.new_context(viewport=PHONE, base_url=server)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(WAIT_MS)
    shots = screenshot_dir(tmp_path_factory)
    try:
        page.goto("/")
        # Radia, an admin in no team: no member check-in offered, and told what arrives here.
        be(page, "Radia Perlman (admin)")
        quick = page.locator("#quick button[data-command]")
        expect(quick.filter(has_text="Admin panel")).to_have_count(1)
        expect(quick.filter(has_text="Check in")).to_have_count(0)
        expect(quick.filter(has_text="Privacy")).to_have_count(1)
        expect(page.locator("#transcript .empty")).to_contain_text("no check-in prompts arrive")
        page.screenshot(path=str(shots / "playground-phone-chat.png"))

        page.reload()
        expect(page.locator("#who")).to_contain_text("U-radia")
        expect(page.locator("#person option:checked")).to_have_text("Radia Perlman (admin)")

        # Ken, a member: his check-in form at phone width, sent once however often he clicks.
        be(page, "Ken Thompson (member)")
        page.reload()
        expect(page.locator("#who")).to_contain_text("U-ken")
        page.locator("#quick button", has_text="Check in").click()
        dialog = page.locator("#dialog")
        expect(dialog.locator("form.rr-form")).to_be_visible()
        for practice in ("assess", "routine", "training", "strengths", "path"):
            dialog.locator(f'input[name="{practice}"][value="3"]').check(force=True)
        page.screenshot(path=str(shots / "playground-phone.png"))
        fits = page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        assert fits, "the page scrolls sideways at 390 px"
        sent: list[str] = []
        page.on(
            "request",
            lambda r: sent.append(r.url) if r.url.endswith("/playground/api/events") else None,
        )
        disabled = page.evaluate(
            """() => {
              const form = document.querySelector("#dialog form.rr-form");
              form.requestSubmit(); form.requestSubmit();
              return form.querySelector("button[type=submit]").disabled;
            }"""
        )
        assert disabled, "the submit button stays enabled while sending"
        expect(dialog).not_to_contain_text("already counted")
        expect(dialog.locator("form.rr-form")).to_have_count(0)
        assert len(sent) == 1, sent
    finally:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"
