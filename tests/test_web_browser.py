"""The web chat in a real browser: Debian's Chromium driven by Playwright (no browser
download), against `python -m bot web` in its own process, on SQLite.

Played: a full orientation with clicks and typed text, a place, a lead with consent, a
shared link opened in a fresh browser context, the page with JavaScript off, and the chat
embedded in another site's page. Screenshots of the main screens (phone and desktop
widths) go to test-artefacts/web/ (BOUSSOLE_TEST_ARTEFACTS to change it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from knowledge.loader import load_cases
from knowledge.schema import Case
from tests.conftest import require_or_skip

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARTEFACTS = Path(os.environ.get("BOUSSOLE_TEST_ARTEFACTS", ROOT / "test-artefacts")) / "web"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
PARTNERS = """\
organisations:
  - id: urscop_hdf
    name: URSCOP Hauts-de-France
    contact: urscop_hdf
    email: accueil@urscop.example
"""

try:
    from playwright import sync_api
except ImportError:  # told by the fixture, and a failure where nothing may be skipped
    sync_api = None  # type: ignore[assignment]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Host(BaseHTTPRequestHandler):
    """A network's own site, on another origin, embedding the chat with the snippet."""

    chat = ""

    def do_GET(self) -> None:
        body = (
            "<!doctype html><html lang=fr><title>CRESS</title><h1>Notre réseau</h1>"
            f'<iframe src="{self.chat}/chat?from=cress-test" title="Boussole" '
            'style="width:100%;height:700px;border:0"></iframe>'
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def host_site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Host)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}"  # another site than 127.0.0.1
    server.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, host_site: str) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("web")
    partners = folder / "partners.yaml"
    partners.write_text(PARTNERS, encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    _Host.chat = url
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'web.db'}",
        "PARTNERS_FILE": str(partners),
        "WEB_FRAME_ANCESTORS": f"'self' {host_site}",
        "WEB_RATE_LIMIT": "0",
        "TELEGRAM_BOT_TOKEN": "",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "web", "--host", "127.0.0.1", "--port", str(port)],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                raise AssertionError(process.stderr.read().decode() if process.stderr else "")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if sync_api is None:
        require_or_skip("Playwright's Python package missing: pip install -e '.[test]'")
    if not CHROMIUM.exists():
        require_or_skip("Chromium not installed: apt-get install -y chromium chromium-driver")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


def shot(page: Any, name: str, whole: bool = False) -> None:
    """What the person sees (the window), or the whole page."""
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=whole)


def voisinerie() -> Case:
    return next(c for n, c in load_cases() if "Voisinerie" in n)


def last_turn(page: Any) -> Any:
    return page.locator("#log .turn").last


def act(page: Any, locator: Any, scripted: bool = True) -> None:
    """Press a button (or Enter) and wait for the answer: a new turn, or a new page."""
    if scripted:
        turns = page.locator("#log .turn").count()
        locator.click()  # (no script evaluation here: the page's CSP forbids it)
        sync_api.expect(page.locator("#log .turn")).to_have_count(turns + 1)
        sync_api.expect(page.locator("button[disabled]")).to_have_count(0)
    else:
        with page.expect_navigation():
            locator.click()


def click(page: Any, words: str, scripted: bool = True) -> None:
    act(page, last_turn(page).locator("button", has_text=words).first, scripted)


def type_in(page: Any, text: str, scripted: bool = True) -> None:
    page.fill("#reponse", text)
    act(page, page.locator("#typed button[type=submit]"), scripted)


def answer(page: Any, case: Case, scripted: bool = True, typed_first: bool = False) -> None:
    """Answer the case's questions with the buttons on screen (the first one typed)."""
    for i in range(30):
        buttons = last_turn(page).locator("button[name=a]").all()
        values = [b.get_attribute("value") or "" for b in buttons]
        chosen = [
            v
            for v in values
            if v.startswith("a|") and case.answers.get(v.split("|")[2]) == v.split("|")[3]
        ]
        if not chosen:
            return
        button = last_turn(page).locator(f'button[value="{chosen[0]}"]')
        if i == 0 and typed_first:
            type_in(page, button.inner_text().strip(), scripted)
        else:
            act(page, button, scripted)
    raise AssertionError("the orientation did not end")


def test_a_whole_orientation_a_lead_and_a_shared_link(browser: Any, server: str) -> None:
    context = browser.new_context(viewport=PHONE, locale="fr-FR")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{server}/chat?from=cress-hdf")
    sync_api.expect(page.get_by_text("Bienvenue sur Boussole")).to_be_visible()
    sync_api.expect(page.get_by_label("Votre réponse, un lieu ou une question")).to_be_visible()
    shot(page, "phone-welcome", whole=True)
    answer(page, voisinerie(), typed_first=True)
    sync_api.expect(last_turn(page)).to_contain_text("Voici ce que je vous recommande")
    shot(page, "phone-result")
    type_in(page, "59000")
    sync_api.expect(last_turn(page)).to_contain_text("Lille")
    shot(page, "phone-contacts")
    click(page, "mis en relation : URSCOP")
    sync_api.expect(last_turn(page)).to_contain_text("Acceptez-vous")
    shot(page, "phone-consent")
    click(page, "J'accepte")
    type_in(page, "Camille Martin")
    type_in(page, "camille.martin@exemple.fr")
    type_in(page, "Un café-cantine de quartier à Wazemmes, avec le bailleur.")
    sync_api.expect(last_turn(page)).to_contain_text("Camille Martin")
    click(page, "Envoyer")
    shot(page, "phone-lead-sent")
    assert page.url == f"{server}/chat?from=cress-hdf"  # every answer without reloading
    type_in(page, "/mesdonnees")
    sync_api.expect(last_turn(page)).to_contain_text("Camille Martin")
    share = page.locator("#log .turn .msg button", has_text="Partager ce résultat").last
    act(page, share)
    link = last_turn(page).locator("a", has_text="/chat/r/").first
    sync_api.expect(link).to_be_visible()
    shared = link.inner_text().strip()
    assert re.fullmatch(rf"{re.escape(server)}/chat/r/[A-Za-z0-9_-]{{22}}", shared)
    shot(page, "phone-share-link")
    assert errors == []
    context.close()

    fresh = browser.new_context(viewport=DESKTOP, locale="fr-FR")  # a colleague's browser
    other = fresh.new_page()
    other.goto(shared)
    sync_api.expect(other.get_by_text("Un résultat partagé avec vous")).to_be_visible()
    sync_api.expect(other.locator("main")).to_contain_text("SCIC")
    sync_api.expect(other.locator("main")).not_to_contain_text("Camille")
    assert other.locator("form").count() == 0
    shot(other, "desktop-shared-result", whole=True)
    other.get_by_role("link", name="Faire ma propre orientation").click()
    sync_api.expect(other.get_by_text("Bienvenue sur Boussole")).to_be_visible()
    sync_api.expect(other.locator("main")).not_to_contain_text("Camille")
    fresh.close()


def test_the_page_works_without_javascript(browser: Any, server: str) -> None:
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False, locale="fr-FR")
    page = context.new_page()
    page.goto(f"{server}/chat")
    sync_api.expect(page.get_by_text("Bienvenue sur Boussole")).to_be_visible()
    shot(page, "desktop-welcome-no-js", whole=True)
    answer(page, voisinerie(), scripted=False)
    sync_api.expect(page.locator("main")).to_contain_text("Voici ce que je vous recommande")
    shot(page, "desktop-result-no-js", whole=True)
    type_in(page, "Lille", scripted=False)
    sync_api.expect(page.locator("main")).to_contain_text("Lille")
    shot(page, "desktop-place-no-js", whole=True)
    act(page, page.locator(".tools button", has_text="Retour"), scripted=False)
    # back goes back one answer (issue 18): the last question is asked again
    sync_api.expect(page.locator("main")).to_contain_text("Où en est le projet")
    page.keyboard.press("Tab")  # the first key press reaches the skip link
    sync_api.expect(page.locator(".skip")).to_be_focused()
    context.close()


def test_the_chat_embedded_in_a_network_site(browser: Any, server: str, host_site: str) -> None:
    context = browser.new_context(viewport=DESKTOP, locale="fr-FR")
    page = context.new_page()
    page.goto(host_site)
    frame = page.frame_locator("iframe")
    sync_api.expect(frame.get_by_text("Bienvenue sur Boussole")).to_be_visible()
    frame.locator("#log .turn").last.locator("button[name=a]").first.click()
    sync_api.expect(frame.locator("#log .turn").last).to_contain_text("Question 2")
    frame.locator("#log .turn").last.locator("button[name=a]").first.click()
    sync_api.expect(frame.locator("#log .turn").last).to_contain_text("Question 3")
    shot(page, "desktop-embedded")
    context.close()


def test_keyboard_only(browser: Any, server: str) -> None:
    """Tab and Enter are enough: skip link, then each message's buttons, focus following."""
    context = browser.new_context(viewport=PHONE, locale="fr-FR")
    page = context.new_page()
    page.goto(f"{server}/chat")
    page.keyboard.press("Tab")
    sync_api.expect(page.locator(".skip")).to_be_focused()
    page.keyboard.press("Tab")  # the name of the site, a link home
    page.keyboard.press("Tab")
    first = last_turn(page).locator("button[name=a]").first
    sync_api.expect(first).to_be_focused()
    page.keyboard.press("Enter")
    sync_api.expect(last_turn(page)).to_contain_text("Question 2")
    sync_api.expect(last_turn(page).locator(".msg").first).to_be_focused()  # read next
    page.keyboard.press("Tab")
    sync_api.expect(last_turn(page).locator("button[name=a]").first).to_be_focused()
    page.keyboard.press("Enter")
    sync_api.expect(last_turn(page)).to_contain_text("Question 3")
    shot(page, "phone-keyboard")
    page.goto(f"{server}/chat/integrer")
    sync_api.expect(page.locator("pre.snippet")).to_contain_text("?from=votre-reseau")
    shot(page, "phone-embed-snippet", whole=True)
    context.close()
