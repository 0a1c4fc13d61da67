"""Reports on a loaded knowledge base for curators: what expires, what is doubted, what leaks.

`python -m bot kb check` fails on `audit()` (past `review_by`, curators' words in a text a
person reads, a legal fact sourced by Wikipedia alone) and prints `open_notes()` and
`primary_sources()`; `python -m bot kb stale` prints `verified()`, oldest first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from knowledge.checks import Problem
from knowledge.schema import Contact, Fact, Funder, Scheme, Source

if TYPE_CHECKING:  # the loader imports knowledge.checks: only the type, not the class
    from knowledge.loader import KnowledgeBase as KnowledgeView

#: curators' words that must not reach a person (the tests keep their own, longer list)
CURATOR_WORDS = re.compile(
    r"sources? consultées?|non confirmée?s?|selon les sources|copies? de textes|"
    r"légifrance en direct|statut à vérifier|(?<!\w)à (re)?vérifier(?! auprès)|à actualiser|"
    r"à confirmer|non relevée?|source unique|collecte des sources|nos références|⚠(?!️)",
    re.IGNORECASE,
)
#: where a source is the primary text: the law, the administration, Parliament
PRIMARY_DOMAINS = (
    "legifrance.gouv.fr",
    "service-public.fr",
    "gouv.fr",
    "assemblee-nationale.fr",
    "senat.fr",
    "europa.eu",
)
LAW_REF = re.compile(r"^(loi|code|décret|ordonnance|arrêté|art\.?|article|cgi|cgct)\b", re.I)


@dataclass(frozen=True)
class Dated:
    """An entry of the knowledge base with a date: a review date, a note, a verification."""

    file: str
    entry: str
    when: date
    text: str

    def age_days(self, today: date) -> int:
        return (today - self.when).days


def _short(text: str, width: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _scheme_file(sid: str) -> str:
    return f"knowledge/schemes/{sid}.yaml"


def _entries(kb: KnowledgeView) -> list[Contact | Funder]:
    return [*kb.contacts, *kb.funders]


def _dir_file(kb: KnowledgeView, item_id: str) -> str:
    return f"knowledge/directory/{kb.entry_files.get(item_id, '?')}.yaml"


def _facts(scheme: Scheme) -> Iterable[tuple[str, Fact]]:
    for name in ("legal_basis", "conditions", "governance", "money"):
        for i, fact in enumerate(getattr(scheme, name)):
            yield f"{name}[{i}]", fact


def review_dates(kb: KnowledgeView) -> list[Dated]:
    """Every `review_by` of the base: the facts that depend on a date."""
    out: list[Dated] = []
    for sid, scheme in kb.schemes.items():
        for where, fact in _facts(scheme):
            if fact.review_by:
                out.append(Dated(_scheme_file(sid), f"{sid} › {where}", fact.review_by, fact.text))
        if scheme.caution and scheme.caution.review_by:
            out.append(
                Dated(
                    _scheme_file(sid),
                    f"{sid} › caution",
                    scheme.caution.review_by,
                    scheme.caution.text,
                )
            )
    for item in _entries(kb):
        if item.review_by:
            out.append(
                Dated(_dir_file(kb, item.id), item.id, item.review_by, item.caution or item.what)
            )
    return sorted(out, key=lambda d: d.when)


def expired(kb: KnowledgeView, today: date) -> list[Problem]:
    """Facts whose `review_by` is past: they may be wrong now."""
    return [
        Problem(
            d.file,
            d.entry,
            f"date de revue dépassée ({d.when.isoformat()}) : « {_short(d.text, 70)} »",
            "relisez le fait dans une source à jour, corrigez-le, puis donnez-lui une nouvelle "
            "`review_by` et un nouveau `verified_at`",
        )
        for d in review_dates(kb)
        if d.when < today
    ]


def open_notes(kb: KnowledgeView) -> list[Dated]:
    """Curators' notes still open, oldest first."""
    out: list[Dated] = []
    for sid, scheme in kb.schemes.items():
        out += [Dated(_scheme_file(sid), sid, n.since, n.text) for n in scheme.curators]
    for item in _entries(kb):
        out += [Dated(_dir_file(kb, item.id), item.id, n.since, n.text) for n in item.curators]
    for gap in kb.gaps:
        entry = f"manque {gap.region}/{gap.kind}"
        out += [Dated("knowledge/directory", entry, n.since, n.text) for n in gap.curators]
    return sorted(out, key=lambda d: d.when)


def _user_texts(kb: KnowledgeView) -> Iterable[tuple[str, str, str]]:
    """(file, entry, text) of everything a person may read."""
    for sid, scheme in kb.schemes.items():
        data = scheme.model_dump(exclude={"curators", "sources", "aliases", "id"})
        stack: list[tuple[str, object]] = [(sid, data)]
        while stack:
            where, value = stack.pop()
            if isinstance(value, str):
                yield _scheme_file(sid), where, value
            elif isinstance(value, dict):
                stack += [(f"{where} › {k}", v) for k, v in value.items()]
            elif isinstance(value, list):
                stack += [(f"{where}[{i}]", v) for i, v in enumerate(value)]
        for key, src in scheme.sources.items():
            yield _scheme_file(sid), f"{sid} › sources › {key}", src.title
    for item in _entries(kb):
        for name in ("name", "what", "caution"):
            text = getattr(item, name)
            if text:
                yield _dir_file(kb, item.id), f"{item.id} › {name}", text
    for q in kb.tree.questions:
        yield "knowledge/tree.yaml", q.id, f"{q.text} {q.help}"
        for opt in q.options:
            texts = [opt.label, opt.note or "", *(e.reason for e in opt.effects)]
            yield "knowledge/tree.yaml", f"{q.id} › {opt.value}", " ".join(texts)


def leaked_doubts(kb: KnowledgeView) -> list[Problem]:
    """Curators' vocabulary in a field a person reads."""
    out = []
    for file, entry, text in _user_texts(kb):
        found = CURATOR_WORDS.search(text)
        if found:
            out.append(
                Problem(
                    file,
                    entry,
                    f"mot de curateur « {found.group(0)} » dans un texte montré aux usagers",
                    "dites à la personne ce qui compte pour elle (ou « à vérifier auprès de … » "
                    "avec l'organisation) et mettez le doute dans `curators`",
                )
            )
    return out


def _domain(url: str) -> str:
    host = url.split("://", 1)[-1].split("/", 1)[0].lower()
    return host.removeprefix("www.")


def _is_primary(src: Source, own_sites: set[str]) -> bool:
    if src.url:
        host = _domain(src.url)
        if host in own_sites or any(host == d or host.endswith("." + d) for d in PRIMARY_DOMAINS):
            return True
    return src.url is None and src.ref is not None and LAW_REF.match(src.ref) is not None


def own_sites(kb: KnowledgeView) -> set[str]:
    """The networks' own websites: those of the directory's contacts."""
    return {_domain(c.website) for c in kb.contacts if c.website}


def primary_sources(kb: KnowledgeView) -> dict[str, tuple[int, int]]:
    """Per fiche: (primary sources, all sources)."""
    sites = own_sites(kb)
    out = {}
    for sid, scheme in kb.schemes.items():
        mine = sites | {_domain(o.url) for o in scheme.support if o.url}
        primary = sum(_is_primary(src, mine) for src in scheme.sources.values())
        out[sid] = (primary, len(scheme.sources))
    return out


def wikipedia_only(kb: KnowledgeView) -> list[Problem]:
    """A legal fact whose only sources are Wikipedia pages."""
    out = []
    for sid, scheme in kb.schemes.items():
        for i, fact in enumerate(scheme.legal_basis):
            urls = [scheme.sources[k].url or "" for k in fact.sources if k in scheme.sources]
            if urls and all("wikipedia.org" in u for u in urls):
                out.append(
                    Problem(
                        _scheme_file(sid),
                        f"{sid} › legal_basis[{i}]",
                        "fait juridique sourcé par Wikipédia seulement",
                        "citez le texte (Légifrance) ou une page officielle (service-public.fr)",
                    )
                )
    return out


def audit(kb: KnowledgeView, today: date) -> list[Problem]:
    """What `kb check` refuses beyond the schema: past review dates, leaked doubts, Wikipedia."""
    from knowledge.nearby import nearby_review

    return [
        *expired(kb, today),
        *leaked_doubts(kb),
        *wikipedia_only(kb),
        *nearby_review(kb.nearby, today),
    ]


def verified(kb: KnowledgeView) -> list[Dated]:
    """Every sourced fact with the date it was last checked (its latest source), oldest first."""
    out: list[Dated] = []
    for sid, scheme in kb.schemes.items():
        items: list[tuple[str, str, list[str]]] = [
            (where, fact.text, list(fact.sources)) for where, fact in _facts(scheme)
        ]
        items += [
            (f"examples[{i}]", e.text, list(e.sources)) for i, e in enumerate(scheme.examples)
        ]
        for where, text, keys in items:
            dates = [scheme.sources[k].verified_at for k in keys if k in scheme.sources]
            when = max(dates) if dates else scheme.verified_at
            out.append(Dated(_scheme_file(sid), f"{sid} › {where}", when, text))
    for item in _entries(kb):
        stem = kb.entry_files.get(item.id, "")
        found = [
            kb.directory_sources.get(f"{stem}:{key}", {}).get("verified_at") for key in item.sources
        ]
        checked = [d for d in found if isinstance(d, date)]
        if checked:
            out.append(Dated(_dir_file(kb, item.id), item.id, max(checked), item.what))
    return sorted(out, key=lambda d: (d.when, d.file, d.entry))
