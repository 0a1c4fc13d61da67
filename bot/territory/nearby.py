"""What is near the person: initiatives that already run, open aids, the public ESS services.

Built from knowledge/nearby/ and the `collectivite` / `etat` contacts of the directory. Every
place gets an answer: the initiatives known in its intercommunalité first (a commune's EPCI),
then its département (and its région's), or an
explicit « aucune connue » with the network's own map; a link to Aides-territoires' search
filtered by audience and theme (and by territory where its perimeter id is known); the
Région's ESS service, named even when its website is not sourced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

from bot.territory.geography import Candidate
from bot.territory.routing import LEVEL_ORDER, in_region, scope_level
from knowledge.loader import KnowledgeBase
from knowledge.nearby import (
    KIND_SCHEMES,
    SHOWN_WHEN_FOUND,
    Initiative,
    InitiativeKind,
    MemberDirectory,
    Resource,
)
from knowledge.schema import Contact, ContactKind

MAX_INITIATIVES = 3
#: resources shown at most (those of the result's fiches first)
MAX_RESOURCES = 4
KIND_LABELS = {
    InitiativeKind.tzcld: "territoire zéro chômeur",
    InitiativeKind.ptce: "PTCE",
    InitiativeKind.tiers_lieu: "tiers-lieu",
    InitiativeKind.espace_test: "espace-test agricole",
    InitiativeKind.maison_ess: "maison de l'ESS",
}
PLURALS = {
    InitiativeKind.tzcld: "Territoires zéro chômeur",
    InitiativeKind.ptce: "PTCE",
    InitiativeKind.tiers_lieu: "Tiers-lieux",
    InitiativeKind.espace_test: "Espaces-test agricoles",
    InitiativeKind.maison_ess: "Maison de l'ESS",
}
#: kinds looked for when no recommended scheme names one (a collectivité visiting, a lost reader)
DEFAULT_KINDS = (InitiativeKind.tzcld, InitiativeKind.ptce)


@dataclass(frozen=True)
class Item:
    name: str
    what: str
    website: str | None = None
    label: str = ""  # e.g. the kind of initiative, or where it is


@dataclass(frozen=True)
class Group:
    """The initiatives of one kind known near the place, on one line."""

    label: str  # « Territoires zéro chômeur »
    items: list[Item]
    more: int  # how many more are known here
    map: Item | None  # the network's list, for the rest


@dataclass
class NearbyView:
    place: Candidate | None
    groups: list[Group] = field(default_factory=list)
    #: kinds looked for with none known here: (label, the network's map)
    none_known: list[tuple[str, Item | None]] = field(default_factory=list)
    aids_url: str = ""
    aids_by_place: bool = False  # the aids link is filtered by the territory too
    aids_where: str = ""  # by which: « votre département », « votre région »
    calls: list[Item] = field(default_factory=list)
    region_service: Item | None = None
    local_services: list[Item] = field(default_factory=list)  # Département's ESS service…
    state_service: Item | None = None
    resources: list[Item] = field(default_factory=list)
    #: where a company finds ESS partners near it: its région's directory, else the national one
    partners: list[Item] = field(default_factory=list)
    #: no directory known for the région: the national one is shown, and said so (« en Bretagne »)
    partners_national_in: str | None = None
    partners_cress: str | None = None  # the région's active CRESS, which keeps its own list

    @property
    def links(self) -> list[tuple[str, str]]:
        """(name, url) of what the block names, for website buttons."""
        items = [i for g in self.groups for i in g.items]
        items += [m for _, m in self.none_known if m is not None]
        items += [s for s in (self.region_service, self.state_service) if s is not None]
        items += self.partners
        return [(i.name, i.website) for i in items if i.website]


class NearbyFinder:
    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.nearby = kb.nearby

    def kinds_for(self, schemes: Sequence[str]) -> list[InitiativeKind]:
        wanted = [k for k, sid in KIND_SCHEMES.items() if sid in schemes]
        return wanted or list(DEFAULT_KINDS)

    def find(
        self,
        place: Candidate | None,
        profile: str | None = None,
        stage: str | None = None,
        schemes: Sequence[str] = (),
        answers: Mapping[str, str | None] | None = None,
    ) -> NearbyView:
        """`answers`: the facts the person gave (for resources that follow an answer)."""
        view = NearbyView(place=place)
        kinds = self.kinds_for(schemes)
        if place is not None:
            found = sorted(
                (i for i in self.nearby.initiatives if self._here(i, place) is not None),
                key=lambda i: self._here(i, place) or 0,  # its intercommunalité's first
            )
            for kind in kinds:
                mine = [self._item(i, place) for i in found if i.kind == kind]
                if mine:
                    shown = mine[:MAX_INITIATIVES]
                    view.groups.append(
                        Group(PLURALS[kind], shown, len(mine) - len(shown), self._map(kind))
                    )
                else:
                    view.none_known.append((KIND_LABELS[kind], self._map(kind)))
            for kind in SHOWN_WHEN_FOUND:
                mine = [self._item(i, place) for i in found if i.kind == kind]
                if mine:
                    view.groups.append(Group(PLURALS[kind], mine[:1], len(mine) - 1, None))
            view.region_service = self._public(place, ContactKind.collectivite, region=True)
            view.local_services = self._departement_services(place)
        view.aids_url, view.aids_by_place = self.aids_link(place, profile, schemes)
        if view.aids_by_place:
            view.aids_where = self._perimeter(place)[1]
        view.calls = self._calls(place, profile, stage, schemes)
        view.state_service = self._state(place, schemes)
        view.resources = self._resources(place, profile, stage, schemes, answers or {})
        self._partners(view, place, profile, schemes)
        return view

    # ------------------------------------------------------------------ pieces

    @staticmethod
    def _here(item: Initiative, place: Candidate) -> int | None:
        """0 in the place's EPCI, 1 in its département, 2 in its région; None elsewhere."""
        if place.epci is not None and place.epci.code in item.epcis:
            return 0
        if place.departement is not None and place.departement.code in item.departements:
            return 1
        return 2 if place.region.code in item.regions else None

    @staticmethod
    def _item(item: Initiative, place: Candidate) -> Item:
        where = ""
        if place.epci is not None and place.epci.code in item.epcis:
            where = " (votre intercommunalité)"
        elif item.regions and not item.departements:
            where = f" ({place.region.name})"
        return Item(item.name + where, item.what or "", item.website, KIND_LABELS[item.kind])

    def _map(self, kind: InitiativeKind) -> Item | None:
        for m in self.nearby.maps:
            if m.kind == kind:
                return Item(m.name, m.what, m.url, KIND_LABELS[kind])
        return None

    def _public(self, place: Candidate, kind: ContactKind, region: bool) -> Item | None:
        for contact in self._active(kind):
            if region and place.region.code in contact.scope.regions:
                return Item(contact.name, contact.what, contact.website)
        return None

    def _departement_services(self, place: Candidate) -> list[Item]:
        """The ESS services of the person's intercommunalité, then of the Département."""
        local = [
            (level, c)
            for c in self._active(ContactKind.collectivite)
            if (level := scope_level(c.scope, place)) in ("epci", "departement")
        ]
        local.sort(key=lambda lc: LEVEL_ORDER[lc[0]])
        return [Item(c.name, c.what, c.website) for _, c in local]

    def _active(self, kind: ContactKind) -> list[Contact]:
        return [c for c in self.kb.contacts if c.active and c.kind == kind]

    def _state(self, place: Candidate | None, schemes: Sequence[str]) -> Item | None:
        """DREETS / DDETS, only where they decide (ESUS, IAE conventionnement, EA)."""
        deciding = [c for c in self._active(ContactKind.etat) if set(c.schemes) & set(schemes)]
        regional = [
            c for c in deciding if place is not None and place.region.code in c.scope.regions
        ]
        chosen = regional or [c for c in deciding if c.scope.national]
        if not chosen:
            return None
        c = chosen[0]
        return Item(c.name, c.what, c.website)

    def aids_link(
        self, place: Candidate | None, profile: str | None, schemes: Sequence[str]
    ) -> tuple[str, bool]:
        search = self.nearby.aid_search
        if search is None:
            return "", False
        params: dict[str, str] = {}
        audience = search.audiences.get(profile or "")
        if audience:
            params[search.audience_param] = audience
        keyword = next((search.keywords[s] for s in schemes if s in search.keywords), None)
        params[search.keyword_param] = keyword or search.default_keyword
        perimeter = self._perimeter(place)[0]
        if perimeter:
            params[search.perimeter_param] = perimeter
        return f"{search.base_url}?{urlencode(params)}", perimeter is not None

    def _perimeter(self, place: Candidate | None) -> tuple[str | None, str]:
        """Aides-territoires' own perimeter id for the place, where it is published."""
        search = self.nearby.aid_search
        if place is None or search is None:
            return None, ""
        if place.departement is not None:
            found = search.perimeters.get(f"d:{place.departement.code}")
            if found:
                return found, "votre département"
        return search.perimeters.get(f"r:{place.region.code}"), "votre région"

    def _calls(
        self,
        place: Candidate | None,
        profile: str | None,
        stage: str | None,
        schemes: Sequence[str],
    ) -> list[Item]:
        out: list[tuple[int, Item]] = []
        for call in self.nearby.calls:
            if call.schemes and not set(call.schemes) & set(schemes):
                continue
            if call.profiles and profile is not None and profile not in call.profiles:
                continue
            if call.stages and stage is not None and stage not in call.stages:
                continue
            level = scope_level(call.scope, place)
            if level is None:
                continue
            when = (
                f"jusqu'au {call.closes.strftime('%d/%m/%Y')}"
                if call.closes
                else "ouvert en continu"
            )
            item = Item(f"{call.name} ({call.offered_by})", call.what, call.url, when)
            out.append((LEVEL_ORDER[level], item))
        out.sort(key=lambda li: li[0])  # the closest first (stable: the file's order otherwise)
        return [item for _, item in out[:2]]

    def _partners(
        self,
        view: NearbyView,
        place: Candidate | None,
        profile: str | None,
        schemes: Sequence[str],
    ) -> None:
        """The ESS directory of the place's région, or the national one said as such."""

        def wanted(d: MemberDirectory) -> bool:
            return (profile is not None and profile in d.profiles) or bool(
                set(d.schemes) & set(schemes)
            )

        dirs = [d for d in self.nearby.directories if wanted(d)]
        regional = [d for d in dirs if place is not None and place.region.code in d.regions]
        chosen = regional or [d for d in dirs if d.national]
        view.partners = [Item(f"{d.name} ({d.offered_by})", d.what, d.url) for d in chosen[:1]]
        if view.partners and not regional and place is not None:
            view.partners_national_in = in_region(place.region.code)
            cress = [
                c for c in self._active(ContactKind.cress) if place.region.code in c.scope.regions
            ]
            view.partners_cress = cress[0].name if cress else None

    def _resources(
        self,
        place: Candidate | None,
        profile: str | None,
        stage: str | None,
        schemes: Sequence[str],
        answers: Mapping[str, str | None],
    ) -> list[Item]:
        """Those for this person (profile, région) in this situation (a recommended fiche, the
        stage or an answer: any listed one is enough); those of the result's fiches first."""
        found: list[tuple[bool, Resource]] = []
        for res in self.nearby.resources:
            if res.profiles and profile is not None and profile not in res.profiles:
                continue
            if res.regions and (place is None or place.region.code not in res.regions):
                continue
            by_scheme = bool(set(res.schemes) & set(schemes))
            situations = [answers.get(fact) in values for fact, values in res.answers.items()]
            if res.schemes:
                situations.append(by_scheme)
            if res.stages:
                situations.append(stage in res.stages)
            if situations and not any(situations):
                continue
            found.append((by_scheme, res))
        found.sort(key=lambda pair: not pair[0])  # stable: the file's order otherwise
        return [
            Item(res.name, res.what, res.website, res.topic) for _, res in found[:MAX_RESOURCES]
        ]
