"""The commands a person can type, in every channel (`/aide`, `aide`, `retour`…)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.screens.labels import group
from bot.screens.views import Kind
from knowledge.loader import normalize

MAX_INPUT = 500  # characters of a typed message that are looked at

COMMANDS: dict[str, Kind] = {
    "retour": Kind.back,
    "precedent": Kind.back,
    "revenir": Kind.back,
    "recommencer": Kind.restart,
    "restart": Kind.restart,
    "reset": Kind.restart,
    "aide": Kind.help,
    "help": Kind.help,
    "fiches": Kind.schemes,
    "schemas": Kind.schemes,
    "liste": Kind.schemes,
    "contacts": Kind.contacts,
    "contact": Kind.contacts,
    "financements": Kind.funders,
    "financement": Kind.funders,
    "financeurs": Kind.funders,
    "territoire": Kind.change_place,
    "lieu": Kind.change_place,
    "confidentialite": Kind.privacy,
    "donnees": Kind.privacy,
    "vie privee": Kind.privacy,
    "start": Kind.current,
    "oublier": Kind.forget,
    "effacer": Kind.forget,
    "mesdonnees": Kind.my_data,
    "mes donnees": Kind.my_data,
    "leads": Kind.leads,
    "demandes": Kind.leads,
    "stats": Kind.stats,
    "statistiques": Kind.stats,
    "reprendre": Kind.current,
}

#: a yes that confirms the single suggestion shown
YES_WORDS = frozenset(
    {
        "oui",
        "ouais",
        "ouai",
        "yes",
        "ok",
        "d accord",
        "daccord",
        "oui merci",
        "exactement",
        "c est ca",
        "voila",
    }
)

#: the command menu a channel registers (Telegram's setMyCommands): name, description
BOT_COMMANDS: tuple[tuple[str, str], ...] = tuple(group("menu").items())
#: in groups every command gets an invitation to a private chat: one entry says so
GROUP_COMMANDS: tuple[tuple[str, str], ...] = tuple(group("menu_groups").items())
#: added to the menu of each operator's private chat (their user id is that chat's id)
OPERATOR_COMMANDS: tuple[tuple[str, str], ...] = tuple(group("menu_operators").items())


@dataclass(frozen=True)
class Typed:
    """A typed message, read once: what it says, normalised, and the command it is."""

    raw: str  # stripped and cut to MAX_INPUT
    norm: str  # normalised; a `/command@Bot args` reads as `command args`

    @classmethod
    def read(cls, text: str | None) -> Typed:
        raw = (text or "").strip()[:MAX_INPUT]
        norm = normalize(raw)
        if raw.startswith("/"):  # a command, maybe addressed as /fiche@BoussoleBot
            command, _, args = raw[1:].partition(" ")
            norm = normalize(f"{command.partition('@')[0]} {args}")
        return cls(raw, norm)

    @property
    def command(self) -> Kind | None:
        return COMMANDS.get(self.norm)

    @property
    def words(self) -> tuple[str, str]:
        """The first word and the rest (`fiche scic` → `fiche`, `scic`)."""
        first, _, rest = self.norm.partition(" ")
        return first, rest


def command_of(text: str) -> Kind | None:
    """The command a typed text is (`/mesdonnees`, `retour`…), if it is one."""
    raw = (text or "").strip()[:MAX_INPUT]
    command = raw[1:].partition(" ")[0].partition("@")[0] if raw.startswith("/") else raw
    return COMMANDS.get(normalize(command))
