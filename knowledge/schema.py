"""Schema of the knowledge base: what an ESS curator writes in the YAML files.

Field names are English (they are code); every text shown to users is French.
The models are strict (unknown fields are refused) so that a typo in a YAML key
is reported instead of silently ignored.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Id = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]

#: The sentinel a question option points to when the orientation is over.
RESULT = "result"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Audience(StrEnum):
    """Who a scheme is for, and who talks to the bot."""

    porteur = "porteur"  # entrepreneur, citizens' group, project holder
    collectivite = "collectivite"  # commune, EPCI, département, région
    association = "association"  # an existing association
    entreprise = "entreprise"  # a company (classic or ESS)
    reseau = "reseau"  # ESS network acting for someone


class SchemeKind(StrEnum):
    statut = "statut"  # a legal form (SCIC, SCOP, association…)
    dispositif = "dispositif"  # a programme or framework (TZCLD, PTCE, CAE contract…)
    contrat = "contrat"  # a contract model (BCUS, groupement…)
    partenariat = "partenariat"  # a partnership approach (JVS, mécénat…)
    agrement = "agrement"  # a label or approval (ESUS)
    demarche = "demarche"  # a territorial approach (EIT, tiers-lieu)


class Source(Strict):
    """Where a fact comes from: a URL, a law reference, or both."""

    title: Text
    url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")] | None = None
    ref: Text | None = None  # e.g. "loi n° 47-1775 du 10 septembre 1947, art. 19 quinquies"
    verified_at: date

    @model_validator(mode="after")
    def _url_or_ref(self) -> Source:
        if not self.url and not self.ref:
            raise ValueError("a source needs a 'url' or a law reference 'ref'")
        return self


class CuratorNote(Strict):
    """A doubt for curators (conflicting sources, what to re-check): never shown to users.

    `since` is when the doubt was written, so `kb check` can say how old it is. A note that is
    settled is deleted, and the fact it concerned gets a new `verified_at`.
    """

    text: Text
    since: date


#: what a person reads: short and plain (doubts go to `curators`)
UserText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class Caution(Strict):
    """What the person must watch out for, in plain French, shown with the fiche and the result.

    `review_by`: the date after which it may be wrong (an experiment's end, a pending bill).
    """

    text: UserText
    review_by: date | None = None


class Fact(Strict):
    """A legal or numeric statement; `sources` name keys of the file's `sources` map.

    `review_by`: set it when the fact depends on a date (an end date, a call for projects, a
    rate "jusqu'au", a pending bill); `kb check` fails once it is past.
    """

    text: Text
    sources: list[Id] = Field(default_factory=list)
    review_by: date | None = None


class MoneyTopic(StrEnum):
    capital = "capital"
    profits = "profits"
    taxes = "taxes"
    public_funding = "public_funding"


class MoneyFact(Fact):
    topic: MoneyTopic


class Example(Strict):
    name: Text
    text: Text
    sources: list[Id] = Field(default_factory=list)


class Organisation(Strict):
    """A support network. Only an organisation name and a sourced website: no person, no phone."""

    name: Text
    url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")] | None = None
    role: Text | None = None
    sources: list[Id] = Field(default_factory=list)


class Scheme(Strict):
    id: Id
    name: Text
    short_name: Text
    kind: SchemeKind
    aliases: list[Text] = Field(default_factory=list)
    pitch: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    what_it_is: Text
    for_whom: list[Audience] = Field(min_length=1)
    legal_basis: list[Fact] = Field(min_length=1)
    conditions: list[Fact] = Field(min_length=1)
    governance: list[Fact] = Field(default_factory=list)
    money: list[MoneyFact] = Field(default_factory=list)
    first_steps: list[Text] = Field(min_length=1)
    pitfalls: list[Text] = Field(default_factory=list)
    examples: list[Example] = Field(default_factory=list)
    support: list[Organisation] = Field(default_factory=list)
    caution: Caution | None = None  # shown to users with the fiche and in the result
    curators: list[CuratorNote] = Field(default_factory=list)  # never shown to users
    sources: dict[Id, Source] = Field(min_length=1)
    verified_at: date

    def sourced_items(self) -> list[tuple[str, list[str]]]:
        """(field path, source keys) of every item that must be sourced."""
        items: list[tuple[str, list[str]]] = []
        for field in ("legal_basis", "conditions", "governance", "money"):
            for i, fact in enumerate(getattr(self, field)):
                items.append((f"{field}[{i}]", list(fact.sources)))
        for i, ex in enumerate(self.examples):
            items.append((f"examples[{i}]", list(ex.sources)))
        for i, org in enumerate(self.support):
            if org.url:  # a website must be sourced; a bare organisation name is enough
                items.append((f"support[{i}]", list(org.sources)))
        return items


class Effect(Strict):
    """What an answer does to a scheme's score, and why (shown to the user)."""

    scheme: Id
    points: int = 0
    exclude: bool = False  # rules the scheme out whatever else is answered
    reason: Text

    @model_validator(mode="after")
    def _does_something(self) -> Effect:
        if self.points == 0 and not self.exclude:
            raise ValueError("an effect needs non-zero 'points' or 'exclude: true'")
        return self


class Option(Strict):
    value: Id
    label: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    aliases: list[Text] = Field(default_factory=list)
    unknown: bool = False  # the "je ne sais pas" option
    next: Id | None = None  # defaults to the question's `next`
    effects: list[Effect] = Field(default_factory=list)
    note: Text | None = None  # shown in the result (e.g. a point to clarify)


class Question(Strict):
    id: Id
    short: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    text: Text
    help: Text
    fact: Id  # the fact this question collects (profile, stage, sector…)
    next: Id | None = None
    options: list[Option] = Field(min_length=2)

    def option(self, value: str) -> Option | None:
        for opt in self.options:
            if opt.value == value:
                return opt
        return None

    def next_of(self, option: Option) -> str | None:
        return option.next or self.next


class TreeSettings(Strict):
    start: Id
    recommend_threshold: int = Field(ge=1)
    max_results: int = Field(default=4, ge=1, le=10)
    max_alternatives: int = Field(default=3, ge=0, le=10)


class Tree(Strict):
    settings: TreeSettings
    questions: list[Question] = Field(min_length=1)


class Case(Strict):
    """A test case written by curators: answers in, expectations out."""

    name: Text
    story: Text | None = None  # the real situation the case comes from
    answers: dict[Id, Id]  # question id -> option value, in order
    expect_first: Id | None = None
    expect_in_top: list[Id] = Field(default_factory=list)  # among the first three
    expect_recommended: list[Id] = Field(default_factory=list)
    expect_not_recommended: list[Id] = Field(default_factory=list)
    expect_next_question: Id | Literal["result"] | None = None
    expect_reason_contains: dict[Id, Text] = Field(default_factory=dict)
    expect_why_not: list[Id] = Field(default_factory=list)
    expect_unmet: bool = False  # no scheme fits (counted as unmet demand)
    expect_open_points: int | None = None  # how many points are left to clarify
    expect_questions_at_most: int | None = Field(default=None, ge=1)  # questions asked
    expect_leads: list[Id] = Field(default_factory=list)  # leads shown when nothing is recommended


def slug_ok(value: str) -> bool:
    return re.fullmatch(r"^[a-z][a-z0-9_]*$", value) is not None


# --------------------------------------------------------------------------- directory

#: INSEE codes of the 18 régions (2026 geographic code)
REGIONS: dict[str, str] = {
    "84": "Auvergne-Rhône-Alpes",
    "27": "Bourgogne-Franche-Comté",
    "53": "Bretagne",
    "24": "Centre-Val de Loire",
    "94": "Corse",
    "44": "Grand Est",
    "32": "Hauts-de-France",
    "11": "Île-de-France",
    "28": "Normandie",
    "75": "Nouvelle-Aquitaine",
    "76": "Occitanie",
    "52": "Pays de la Loire",
    "93": "Provence-Alpes-Côte d'Azur",
    "01": "Guadeloupe",
    "02": "Martinique",
    "03": "Guyane",
    "04": "La Réunion",
    "06": "Mayotte",
}


class ContactKind(StrEnum):
    cress = "cress"  # chambre régionale de l'ESS
    france_active = "france_active"  # territorial association of France Active
    urscop = "urscop"  # union régionale des Scop et Scic
    reseau_ess = "reseau_ess"  # regional ESS network (APES, ARDES, Cré-sol, PES21…)
    national = "national"  # national head network (Avise, RTES, Labo de l'ESS, TZCLD…)
    dla = "dla"  # dispositif local d'accompagnement
    collectivite = "collectivite"  # a Région's or Département's own ESS service or policy
    etat = "etat"  # the State's services that decide (DREETS, DDETS: IAE, ESUS, EA)
    autre = "autre"


class Stage(StrEnum):
    idee = "idee"
    montage = "montage"
    existant = "existant"


#: the SIREN of an EPCI (intercommunalité à fiscalité propre), as INSEE publishes it
Siren = Annotated[str, StringConstraints(pattern=r"^[0-9]{9}$")]


class Scope(Strict):
    """Where an organisation acts: nationally, or in régions / départements (INSEE codes), or
    in intercommunalités (`epcis`: SIREN codes, checked against knowledge/geo/)."""

    national: bool = False
    regions: list[str] = Field(default_factory=list)
    departements: list[str] = Field(default_factory=list)
    #: the EPCI it serves: a person of one of their communes sees it first; anyone else (a
    #: commune outside, a place named by its département only) does not, unless the entry
    #: also names their département or région
    epcis: list[Siren] = Field(default_factory=list)
    #: where it really acts when that is finer than a département (EPCI, bassin de vie),
    #: in plain French, shown with the contact (« avec les intercommunalités qu'il accompagne »)
    area: UserText | None = None

    @model_validator(mode="after")
    def _somewhere(self) -> Scope:
        if not (self.national or self.regions or self.departements or self.epcis):
            raise ValueError("scope needs national: true, regions, departements or epcis")
        unknown = [r for r in self.regions if r not in REGIONS]
        if unknown:
            raise ValueError(f"unknown région codes {unknown}: use INSEE codes such as '32'")
        return self


class Contact(Strict):
    id: Id
    name: Text
    kind: ContactKind
    scope: Scope
    what: Text  # what they do for the person, one sentence
    schemes: list[Id] = Field(default_factory=list)  # empty: every scheme
    profiles: list[Audience] = Field(default_factory=list)  # empty: every profile
    stages: list[Stage] = Field(default_factory=list)  # empty: every stage
    website: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")] | None = None
    active: bool = True  # false: shown nowhere (e.g. in liquidation), kept for the record
    caution: UserText | None = None  # shown to users with the contact, plain French
    curators: list[CuratorNote] = Field(default_factory=list)  # never shown to users
    review_by: date | None = None  # the contact may have changed after this date
    sources: list[Id] = Field(min_length=1)


class Instrument(StrEnum):
    pret_honneur = "pret_honneur"
    garantie = "garantie"
    pret = "pret"
    pret_participatif = "pret_participatif"
    subvention = "subvention"
    fonds_propres = "fonds_propres"
    accompagnement = "accompagnement"


class Funder(Strict):
    id: Id
    name: Text  # the offer, e.g. "Pacte Émergence"
    offered_by: Text  # the organisation, e.g. "France Active"
    instrument: Instrument
    what: Text  # what it gives, with sourced amounts if any
    scope: Scope
    schemes: list[Id] = Field(default_factory=list)
    profiles: list[Audience] = Field(default_factory=list)
    stages: list[Stage] = Field(default_factory=list)
    website: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")] | None = None
    caution: UserText | None = None  # shown to users with the offer, plain French
    curators: list[CuratorNote] = Field(default_factory=list)  # never shown to users
    review_by: date | None = None  # amounts or calls may have changed after this date
    sources: list[Id] = Field(min_length=1)


class KnownGap(Strict):
    """A kind of contact that does not exist in a région (or that we know nobody for).

    The bot then says so and shows the national contact instead of a silent hole; `kb check`
    counts the région as covered for that kind.
    """

    region: str
    kind: ContactKind
    instead: Id | None = None  # the contact shown in its place (usually a national one)
    curators: list[CuratorNote] = Field(default_factory=list)
    sources: list[Id] = Field(min_length=1)
    verified_at: date

    @model_validator(mode="after")
    def _known_region(self) -> KnownGap:
        if self.region not in REGIONS:
            raise ValueError(f"unknown région code {self.region!r}: use an INSEE code such as '32'")
        return self


class Directory(Strict):
    """One directory file: its sources, and contacts, funders and/or known gaps."""

    sources: dict[Id, Source] = Field(min_length=1)
    contacts: list[Contact] = Field(default_factory=list)
    funders: list[Funder] = Field(default_factory=list)
    gaps: list[KnownGap] = Field(default_factory=list)


# --------------------------------------------------------------------------- routing rules
# (issue 19: knowledge/routing.yaml, validated by knowledge/routing_rules.py; kept together)


class ReachRule(Strict):
    """How to reach a contact of this kind that has no sourced website of its own."""

    kind: ContactKind
    how: Text  # shown after « Pour le joindre : », e.g. "par l'annuaire des Scop et des Scic"
    via: Id | None = None  # a contact whose sourced website is that directory (its link is shown)


class NationalRule(Strict):
    """A national body shown only where no contact of `regional_kind` is shown."""

    contact: Id
    regional_kind: ContactKind
    #: shown to the user with the national body where the place has no contact of that kind,
    #: so they know it is a national relay; « {where} » becomes « en Bretagne »
    said: UserText | None = None
    why: Text  # for curators: what it adds only where the regional ones are missing


class FirstRule(Strict):
    """A need with its own network: when one of `schemes` is recommended, its contacts first."""

    schemes: list[Id] = Field(min_length=1)
    kinds: list[ContactKind] = Field(default_factory=list)  # empty: contacts naming the scheme
    why: Text


class InstrumentRule(Strict):
    """The kinds of funding that fit a scheme; funders of other kinds are not offered for it."""

    schemes: list[Id] = Field(min_length=1)
    instruments: list[Instrument] = Field(default_factory=list)  # empty: no funder fits
    why: Text


class MainNeedRule(Strict):
    """Funders offered only when they serve the first recommended scheme, the main need."""

    funders: list[Id] = Field(min_length=1)
    why: Text


class RoutingRules(Strict):
    reach: list[ReachRule] = Field(default_factory=list)
    national: list[NationalRule] = Field(default_factory=list)
    first: list[FirstRule] = Field(default_factory=list)
    instruments: list[InstrumentRule] = Field(default_factory=list)
    main_need: list[MainNeedRule] = Field(default_factory=list)
