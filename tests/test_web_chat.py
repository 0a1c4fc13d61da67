"""The web chat over HTTP (Starlette's TestClient): the same dialogue as every channel,
on SQLite and PostgreSQL, with its protections (token, origin, rate limit, headers)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.testclient import TestClient

from bot.channels.web_chat import COOKIE, WebChat, WebSettings, build_chat_app
from bot.channels.web_html import safe_html
from bot.dialogue.router import Conversation
from bot.dialogue.service import ChatService
from bot.leads.partners import Operator, Organisation, Partners
from bot.platform.storage import ConversationStore
from knowledge.loader import KnowledgeBase, load_cases
from knowledge.schema import Case
from tests.web_user import WebUser, page_text

PUBLIC = "http://testserver"


@dataclass
class Site:
    client: TestClient
    service: ChatService
    chat: WebChat

    def user(self, **kwargs: Any) -> WebUser:
        """A browser of its own (its own cookies), on the site's event loop."""
        client = TestClient(self.client.app, **kwargs)
        client.portal = self.client.portal
        return WebUser(client)

    def call(self, coroutine: Any) -> Any:
        async def run() -> Any:
            return await coroutine

        return self.client.portal.call(run)  # type: ignore[union-attr]


def voisinerie() -> Case:
    return next(c for n, c in load_cases() if "Voisinerie" in n)


def make_site(kb: KnowledgeBase, url: str, **settings: Any) -> Iterator[Site]:
    partners = Partners(
        organisations=[
            Organisation(
                id="urscop_hdf",
                name="URSCOP Hauts-de-France",
                contact="urscop_hdf",
                email="accueil@urscop.example",
            )
        ],
        operators=[Operator(telegram_user_id=9001, organisation="urscop_hdf")],
    )
    store = ConversationStore(url)
    service = ChatService(Conversation(kb, partners=partners), store)
    chat = WebChat(service, WebSettings(public_url=PUBLIC, secret=b"k" * 32, **settings))
    with TestClient(build_chat_app(chat)) as client:
        site = Site(client, service, chat)
        site.call(store.migrate())
        yield site
        site.call(store.close())


@pytest.fixture
def site(kb: KnowledgeBase, database_url: str) -> Iterator[Site]:
    yield from make_site(kb, database_url)


def test_a_full_orientation_with_buttons_a_place_and_a_shared_result(site: Site) -> None:
    person = site.user()
    person.open("/chat?from=cress-hdf")
    assert person.status == 200
    assert "Bienvenue sur Boussole" in person.text
    assert "qui êtes-vous" in person.text
    cookie = person.client.cookies[COOKIE]
    assert cookie.startswith("cress-hdf.")
    person.answer(voisinerie())
    assert "Où se situe votre projet" in person.text or "commune" in person.text
    person.send("59000")
    assert "Lille" in person.text
    assert "SCIC" in person.text
    person.click("Partager ce résultat")
    link = re.search(r"http://testserver/chat/r/[A-Za-z0-9_-]{22}", person.text)
    assert link is not None, person.text
    # no personal data in the link: only an unguessable id
    assert cookie.split(".")[1] not in link.group(0)

    colleague = site.user()  # another browser: no cookie
    colleague.open(link.group(0).removeprefix(PUBLIC))
    assert colleague.status == 200
    assert "Un résultat partagé avec vous" in colleague.text
    assert "SCIC" in colleague.text and "Lille" in colleague.text
    assert "<form" not in colleague.page  # read-only
    assert COOKIE not in colleague.client.cookies
    assert "Faire ma propre orientation" in colleague.text

    missing = site.user()
    missing.open("/chat/r/" + "x" * 22)
    assert missing.status == 404 and "n'existe pas" in missing.text

    # the orientation counts for the network whose page it started from
    rows = site.call(site.service.leads.orientations())
    assert [row["network"] for row in rows] == ["cress-hdf"]
    operator = Operator(telegram_user_id=9001, organisation="urscop_hdf")
    stats = site.call(site.service.operators.stats(operator))
    assert "Depuis le site d'un réseau" in stats.text
    assert "cress-hdf : 1 · 1" in stats.text  # started, finished
    other = site.user()
    other.open("/chat?from=france-active")
    other.send("collectivite")  # started, not finished
    stats = site.call(site.service.operators.stats(operator))
    assert "france-active : 1 · 0" in stats.text and "cress-hdf : 1 · 1" in stats.text


def test_typed_answers_help_back_restart_and_fiches(site: Site) -> None:
    person = site.user()
    person.open()
    person.send("une collectivité")
    assert "Question 2" in person.text
    person.send("/aide")
    assert "Question 2" in person.text or "aide" in person.text.lower()
    person.send("retour")
    assert "qui êtes-vous" in person.text
    person.send("fiche scic")
    assert "Société coopérative d'intérêt collectif" in person.text
    person.send("/recommencer")
    assert "qui êtes-vous" in person.text


def test_deep_link_profile_and_resume(site: Site) -> None:
    person = site.user()
    person.open("/chat?profil=collectivite")
    assert "Question 2" in person.text
    person.open("/chat")  # a reload: the same conversation, where it was
    assert "Question 2" in person.text
    person.click(person.buttons()[0][2])
    assert "Question 3" in person.text
    person.open("/chat?profil=collectivite")  # the embedded page reloaded: nothing lost
    assert "Question 3" in person.text


def test_html_typed_by_a_person_is_shown_as_text(site: Site) -> None:
    person = site.user()
    person.open()
    person.send("<script>alert(1)</script><b>gras</b>")
    assert "<script>alert(1)" not in person.page
    assert "&lt;script&gt;" in person.page


def test_the_lead_form_asks_consent_and_sends_once_checked(site: Site) -> None:
    person = site.user()
    person.open()
    person.answer(voisinerie())
    person.send("59000")
    person.click("mis en relation : URSCOP")
    assert "Acceptez-vous que Boussole transmette" in person.text
    person.click("J'accepte")
    person.send("Camille Martin")
    person.send("pas une adresse")
    assert "adresse" in person.text.lower()  # the same checks as on Telegram
    person.send("camille.martin@exemple.fr")
    person.send("Un café-cantine-conciergerie de quartier à Wazemmes, avec le bailleur.")
    person.click("Envoyer")
    key = "web:" + person.client.cookies[COOKIE]
    leads = site.call(site.service.leads.for_chat(key))
    assert len(leads) == 1 and leads[0].data["person"]["name"] == "Camille Martin"
    person.send("/mesdonnees")
    assert "Camille Martin" in person.text
    person.send("/oublier")
    person.click("Oui, tout effacer")
    assert site.call(site.service.leads.for_chat(key)) == []
    _, version = site.call(site.service.store.load(key))
    assert version == 0
    assert person.client.cookies[COOKIE] != key.removeprefix("web:")  # a new conversation


def test_every_post_needs_the_page_token(site: Site) -> None:
    person = site.user()
    person.open()
    response = person.client.post("/chat", data={"text": "collectivite"})
    assert response.status_code == 403 and "Page expirée" in page_text(response.text)
    stranger = site.user()
    stranger.open()
    forged = person.client.post("/chat", data={"t": stranger.token, "text": "collectivite"})
    assert forged.status_code == 403  # someone else's token with my cookie
    tampered = person.client.post("/chat", data={"t": person.token + "0", "text": "x"})
    assert tampered.status_code == 403
    huge = person.client.post("/chat", data={"t": person.token, "text": "x" * 20_000})
    assert huge.status_code == 413 and "trop long" in huge.text
    garbage = person.client.post(
        "/chat",
        content=b"\xff\xfe=&&",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert garbage.status_code == 403
    other_site = person.client.post(
        "/chat",
        data={"t": person.token, "text": "collectivite"},
        headers={"origin": "https://evil.example"},
    )
    assert other_site.status_code == 403
    # an embedded page whose cookie the browser withholds still continues its conversation
    embedded = site.user()
    embedded.open()
    token = embedded.token
    embedded.client.cookies.clear()
    response = embedded.client.post("/chat", data={"t": token, "text": "collectivite"})
    assert response.status_code == 200 and "Question 2" in page_text(response.text)


def test_a_forged_or_stale_button_gets_a_clear_answer(site: Site) -> None:
    person = site.user()
    person.open()
    person.post({"a": "zz|garbage"})
    assert person.status == 200 and "qui êtes-vous" in person.text
    first = person.buttons()[0][1]
    person.post({"a": first})
    person.post({"a": first})  # the same button again: recognised, nothing recorded twice
    assert person.status == 200 and "Réponse déjà prise en compte" in person.text
    assert "Question 2" in person.text  # and where the person is


def test_headers_cookie_and_fragment(site: Site) -> None:
    person = site.user()
    response = person.client.get("/chat")
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in csp and "script-src 'self'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    person.page = response.text
    fragment = person.post({"text": "collectivite"}, headers={"x-boussole-fragment": "1"})
    assert fragment.startswith('<div class="turn"') and "<html" not in fragment
    secure = site.user(base_url="https://testserver")
    response = secure.client.get("/chat")
    assert "secure" in response.headers["set-cookie"].lower()
    assert "strict-transport-security" in response.headers
    assert person.client.get("/", follow_redirects=False).headers["location"] == "/chat"
    static = person.client.get("/chat/static/chat.js")
    assert static.status_code == 200 and "fetch" in static.text


def test_embedding_origins_and_snippet(kb: KnowledgeBase, tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'web.db'}"
    origins = "https://www.cress-hdf.org https://www.france-active.org"
    for site in make_site(kb, url, frame_ancestors=origins, rate_limit=5):
        person = site.user()
        response = person.client.get("/chat/integrer")
        assert f"frame-ancestors {origins}" in response.headers["content-security-policy"]
        assert "x-frame-options" not in response.headers
        assert "?from=votre-reseau" in page_text(response.text)
        assert "profil=collectivite" in page_text(response.text)
        codes = [person.client.get("/chat").status_code for _ in range(5)]
        assert codes == [200, 200, 200, 200, 429]
        assert "patientez" in person.client.get("/chat").text
        assert person.client.get("/chat/static/chat.css").status_code == 200  # not counted


def test_telegram_html_is_kept_and_anything_else_is_text() -> None:
    assert safe_html("<b>a</b> <i>b</i> &amp; <code>c</code>") == (
        "<b>a</b> <i>b</i> &amp; <code>c</code>"
    )
    link = safe_html('<a href="https://ex.org/?a=1&amp;b=2">site</a>')
    assert link.startswith('<a href="https://ex.org/?a=1&amp;b=2" target="_blank"')
    assert safe_html('<a href="javascript:alert(1)">x</a>') == "x"
    assert safe_html("<script>alert(1)</script>") == "alert(1)"
    assert safe_html("<img src=x onerror=alert(1)>y") == "y"
    assert safe_html("<b>open") == "<b>open</b>"
    assert safe_html("1 &lt; 2") == "1 &lt; 2"
