"""Match a territory, a profile, a stage and the recommended schemes to contacts and funders.

The closest relevant organisations come first (the person's intercommunalité, then
département, région, national), each with the reason it is shown. An entry that names only
EPCI is shown to the people of their communes, never to a place known by its département
only. An empty local match is said honestly and falls back to national contacts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from bot.territory.geography import Candidate, Geography
from knowledge.loader import KnowledgeBase
from knowledge.routing_rules import load_routing_rules
from knowledge.schema import (
    REGIONS,
    Audience,
    Contact,
    ContactKind,
    Funder,
    Instrument,
    RoutingRules,
    Scope,
)

Level = Literal["epci", "departement", "region", "national"]
LEVEL_ORDER = {"epci": 0, "departement": 1, "region": 2, "national": 3}
MAX_LOCAL = 5
MAX_NATIONAL = 3
MAX_FUNDERS = 5
#: the kinds of contact every région should have; `kb check` reports the missing ones
PUBLIC_KINDS = frozenset({ContactKind.collectivite, ContactKind.etat})
EXPECTED_KINDS = (
    ContactKind.cress,
    ContactKind.france_active,
    ContactKind.urscop,
    ContactKind.reseau_ess,
)
#: kinds whose known gap in a région is said in its own line (« Pas de CRESS en Normandie »)
GAP_KINDS_SAID = (ContactKind.cress, ContactKind.france_active)
KIND_LABELS = {
    ContactKind.cress: "CRESS",
    ContactKind.france_active: "France Active",
    ContactKind.urscop: "Union régionale des Scop et Scic",
    ContactKind.reseau_ess: "réseau régional de l'ESS",
    ContactKind.national: "réseau national",
    ContactKind.dla: "DLA",
    ContactKind.collectivite: "service ESS de la collectivité",
    ContactKind.etat: "services de l'État",
    ContactKind.autre: "autre",
}
# "en Normandie", but "dans les Hauts-de-France", "à La Réunion"
REGION_IN = {
    "44": "dans le Grand Est",
    "32": "dans les Hauts-de-France",
    "52": "dans les Pays de la Loire",
    "04": "à La Réunion",
    "06": "à Mayotte",
}


def in_region(code: str) -> str:
    return REGION_IN.get(code, f"en {REGIONS.get(code, code)}")


def scope_level(scope: Scope, place: Candidate | None) -> Level | None:
    """How close an entry's scope is to the place, or None when it does not cover it. An EPCI
    counts only for a commune of it: a place known by its département has no EPCI."""
    if place is not None:
        if place.epci is not None and place.epci.code in scope.epcis:
            return "epci"
        if place.departement is not None and place.departement.code in scope.departements:
            return "departement"
        if place.region.code in scope.regions:
            return "region"
    return "national" if scope.national else None


@dataclass
class Match:
    name: str
    what: str
    level: Level
    reason: str
    website: str | None
    note: str | None
    item_id: str
    #: no sourced website: how to reach it (and the directory's link, if sourced)
    reach: str | None = None
    reach_url: str | None = None


@dataclass
class Routing:
    territory: Candidate | None
    contacts: list[Match] = field(default_factory=list)
    funders: list[Match] = field(default_factory=list)
    local: bool = False  # at least one contact of the EPCI, the département or the région
    #: kinds of contact known not to exist in the région: (what is missing, who to ask instead)
    known_gaps: list[tuple[str, str]] = field(default_factory=list)
    regional: str | None = None  # the région's ESS body (CRESS, or its substitute), if any

    @property
    def where(self) -> str:
        if self.territory is None:
            return "en France"
        return in_region(self.territory.region.code)


_AUDIENCES = frozenset(a.value for a in Audience)


def effective_profile(facts: dict[str, str | None]) -> str | None:
    """The profile contacts must serve: a network acting for someone counts as that someone."""
    profile = facts.get("profile")
    if profile == "reseau":
        on_behalf = facts.get("on_behalf")
        return (
            on_behalf
            if on_behalf in ("porteur", "association", "collectivite", "entreprise")
            else None
        )
    # answers that are not an audience (« propriétaire de locaux », « autre situation ») do not
    # narrow the contacts: every network may look at the case
    return profile if profile in _AUDIENCES else None


class Router:
    """Contacts and funders that fit, by the rules of knowledge/routing.yaml."""

    def __init__(self, kb: KnowledgeBase, geo: Geography, rules: RoutingRules | None = None):
        self.kb = kb
        self.geo = geo
        self.rules = rules if rules is not None else load_routing_rules(kb)
        contacts = {c.id: c for c in kb.contacts}
        self._contacts = contacts
        self._reach: dict[ContactKind, tuple[str, str | None]] = {
            r.kind: (r.how, contacts[r.via].website if r.via else None) for r in self.rules.reach
        }
        self._instruments: dict[str, set[Instrument]] = {
            sid: set(rule.instruments) for rule in self.rules.instruments for sid in rule.schemes
        }
        self._main_need = {fid for rule in self.rules.main_need for fid in rule.funders}

    def _first(self, contact: Contact, schemes: Sequence[str]) -> bool:
        """Is it the network of a need the person has (see `first` in routing.yaml)?"""
        for rule in self.rules.first:
            needed = [s for s in rule.schemes if s in schemes]
            if not needed:
                continue
            if contact.kind in rule.kinds or (
                not rule.kinds and any(s in contact.schemes for s in needed)
            ):
                return True
        return False

    def funder_fits(self, funder: Funder, schemes: Sequence[str]) -> bool:
        """The need part of the rules: the funding kind fits the recommended schemes."""
        if not schemes:
            return True  # nothing recommended: only the profile and the stage can tell

        def allowed(sid: str) -> bool:
            kinds = self._instruments.get(sid)
            return kinds is None or funder.instrument in kinds

        if not funder.schemes:
            return allowed(schemes[0])  # a general funder must fit the main need
        if funder.id in self._main_need and schemes[0] not in funder.schemes:
            return False
        return any(allowed(s) for s in schemes if s in funder.schemes)

    def _fits(
        self, item: Contact | Funder, profile: str | None, stage: str | None, schemes: Sequence[str]
    ) -> list[str] | None:
        """Recommended schemes the item serves ([] = any project); None if it does not fit."""
        if item.profiles and profile is not None and profile not in item.profiles:
            return None
        if item.stages and stage is not None and stage not in item.stages:
            return None
        if not item.schemes:
            return []
        served = [s for s in schemes if s in item.schemes]
        return served or None

    def _reason(self, served: list[str], level: Level, place: Candidate | None) -> str:
        names = ", ".join(self.kb.schemes[s].short_name for s in served)
        what = f"Pour votre projet ({names})" if names else "Pour tout projet de l'ESS"
        if level == "epci" and place is not None and place.epci is not None:
            return f"{what}, dans votre intercommunalité ({place.epci.name})"
        if level == "departement" and place is not None and place.departement is not None:
            return f"{what}, dans le département {place.departement.name}"
        if level == "region" and place is not None:
            return f"{what}, {in_region(place.region.code)}"
        return f"{what}, au niveau national"

    def _rank(
        self,
        items: Sequence[Contact | Funder],
        place: Candidate | None,
        profile: str | None,
        stage: str | None,
        schemes: Sequence[str],
    ) -> list[tuple[Match, int]]:
        ranked: list[tuple[tuple[int, int, int, str], Match, int]] = []
        for item in items:
            if isinstance(item, Contact) and not item.active:
                continue
            level = scope_level(item.scope, place)
            if level is None:
                continue
            served = self._fits(item, profile, stage, schemes)
            if served is None:
                continue
            first = False
            reach: tuple[str, str | None] = ("", None)
            if isinstance(item, Contact):
                name = item.name
                first = self._first(item, schemes)
                if item.website is None:
                    reach = self._reach.get(item.kind, reach)
            else:
                if not self.funder_fits(item, schemes):
                    continue
                name = f"{item.name} ({item.offered_by})"
            reason = self._reason(served, level, place)
            if item.scope.area:  # a finer area than the département: say it
                reason = f"{reason} ({item.scope.area})"
            match = Match(
                name=name,
                what=item.what,
                level=level,
                reason=reason,
                website=item.website,
                note=item.caution,
                item_id=item.id,
                reach=reach[0] or None,
                reach_url=reach[1],
            )
            key = (int(not first), LEVEL_ORDER[level], -len(served), name)
            ranked.append((key, match, len(served)))
        ranked.sort(key=lambda r: r[0])
        return [(m, n) for _, m, n in ranked]

    def route(
        self,
        place: Candidate | None,
        profile: str | None = None,
        stage: str | None = None,
        schemes: Sequence[str] = (),
    ) -> Routing:
        # the public services (Région, Département, State) are in the « près de chez vous »
        # block (bot/territory/nearby.py), not among the support networks
        networks = [c for c in self.kb.contacts if c.kind not in PUBLIC_KINDS]
        contacts = self._rank(networks, place, profile, stage, schemes)
        local = [m for m, _ in contacts if m.level != "national"][:MAX_LOCAL]
        kinds = {self._contact(m.item_id).kind for m in local}
        redundant = {r.contact for r in self.rules.national if r.regional_kind in kinds}
        national = [m for m, _ in contacts if m.level == "national" and m.item_id not in redundant][
            :MAX_NATIONAL
        ]
        self._say_fallbacks(national, place)
        funders = [m for m, _ in self._rank(self.kb.funders, place, profile, stage, schemes)]
        return Routing(
            territory=place,
            contacts=[*local, *national],
            funders=funders[:MAX_FUNDERS],
            local=bool(local),
            known_gaps=self.known_gaps(place),
            regional=self.regional_body(place),
        )

    def _say_fallbacks(self, national: list[Match], place: Candidate | None) -> None:
        """A national body standing in for a missing regional one says so, in plain words.

        Only where the place has no contact of that kind at all (not where one was merely
        left out), and not where a known gap of the région already says it.
        """
        if place is None:
            return
        rules = {r.contact: r for r in self.rules.national if r.said}
        here = {
            c.kind
            for c in self.kb.contacts
            if c.active and scope_level(c.scope, place) in ("epci", "departement", "region")
        }
        told = {
            g.kind
            for g in self.kb.gaps
            if g.region == place.region.code and g.kind in GAP_KINDS_SAID
        }
        for match in national:
            rule = rules.get(match.item_id)
            if rule is None or rule.said is None or rule.regional_kind in here | told:
                continue
            match.reason = rule.said.replace(
                "{where}", self._missing_where(rule.regional_kind, place)
            )

    def _missing_where(self, kind: ContactKind, place: Candidate) -> str:
        """« en Bretagne », or the département where the région has one elsewhere."""
        code = place.region.code
        in_the_region = self.gaps().get(code)
        elsewhere = in_the_region is not None and kind not in in_the_region
        if elsewhere and kind in EXPECTED_KINDS and place.departement is not None:
            return f"dans le département {place.departement.name}"
        return in_region(code)

    def known_gaps(self, place: Candidate | None) -> list[tuple[str, str]]:
        if place is None:
            return []
        names = {c.id: c.name for c in self.kb.contacts if c.active}
        return [
            (KIND_LABELS[g.kind], names.get(g.instead or "", "le réseau national"))
            for g in self.kb.gaps
            if g.region == place.region.code and g.kind in GAP_KINDS_SAID
        ]

    def regional_body(self, place: Candidate | None) -> str | None:
        """The active CRESS of the place's région, else its regional ESS network."""
        if place is None:
            return None
        for kind in (ContactKind.cress, ContactKind.reseau_ess):
            for contact in self.kb.contacts:
                if (
                    contact.active
                    and contact.kind == kind
                    and place.region.code in contact.scope.regions
                ):
                    return contact.name
        return None

    def _contact(self, contact_id: str) -> Contact:
        return self._contacts[contact_id]

    def gaps(self) -> dict[str, list[ContactKind]]:
        """For each of the 18 régions, the expected kinds of contact nobody covers."""
        present: dict[str, set[ContactKind]] = {code: set() for code in REGIONS}
        for contact in self.kb.contacts:
            if not contact.active:
                continue
            regions = set(contact.scope.regions)
            for dep in contact.scope.departements:
                if dep in self.geo.departements:
                    regions.add(self.geo.departements[dep][1])
            for code in regions & present.keys():
                present[code].add(contact.kind)
        return {
            code: [kind for kind in EXPECTED_KINDS if kind not in kinds]
            for code, kinds in present.items()
        }
