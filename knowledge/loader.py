"""Load the knowledge base from YAML and refuse it, with a useful message, when it is wrong.

Every problem names the file, the entry (scheme or question id), the field and the fix, so a
curator can correct the YAML without a developer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from knowledge.checks import (
    MAX_BUTTON_IDS,
    NEG_INF,
    Problem,
    _check_aliases,
    _check_gaps,
    _check_sources,
    _check_tree,
    _count_paths,
    _line_of,
    _longest,
    _unknown_source,
    best_scores,
    entry_problems,
    normalize,
)
from knowledge.nearby import Nearby, load_nearby
from knowledge.places import epci_problems
from knowledge.schema import (
    Case,
    Contact,
    Directory,
    Funder,
    KnownGap,
    Question,
    Scheme,
    Tree,
)

__all__ = [
    "KNOWLEDGE_DIR",
    "MAX_BUTTON_IDS",
    "NEG_INF",
    "KnowledgeBase",
    "KnowledgeError",
    "Problem",
    "best_scores",
    "load_cases",
    "load_knowledge",
    "normalize",
]

if TYPE_CHECKING:
    from knowledge.intents import Intent

KNOWLEDGE_DIR = Path(__file__).resolve().parent
# libyaml's parser when PyYAML has it (it keeps line marks too), the pure-Python one otherwise
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class KnowledgeError(Exception):
    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        head = f"La base de connaissances est invalide ({count} problème{'s' * (count > 1)}) :"
        return "\n".join([head, *(f"- {p}" for p in self.problems)])


@dataclass
class Stats:
    schemes: int
    questions: int
    options: int
    paths: int
    longest_path: int
    sources: int


@dataclass
class KnowledgeBase:
    schemes: dict[str, Scheme]
    tree: Tree
    version: str
    root: Path
    contacts: list[Contact] = field(default_factory=list)
    funders: list[Funder] = field(default_factory=list)
    gaps: list[KnownGap] = field(default_factory=list)  # kinds of contact known not to exist
    #: directory entry id -> its file stem (where its source keys live)
    entry_files: dict[str, str] = field(default_factory=dict)
    directory_sources: dict[str, dict[str, object]] = field(default_factory=dict)
    intents: list[Intent] = field(default_factory=list)  # knowledge/intents.yaml
    #: what already exists near the person (knowledge/nearby/)
    nearby: Nearby = field(default_factory=Nearby)
    questions: dict[str, Question] = field(init=False)

    def __post_init__(self) -> None:
        self.questions = {q.id: q for q in self.tree.questions}

    @cached_property
    def remaining_depth(self) -> dict[str, int]:
        """Longest number of questions left from each question (itself included)."""
        return _longest(self.tree, self.questions)

    @cached_property
    def stats(self) -> Stats:
        return Stats(
            schemes=len(self.schemes),
            questions=len(self.questions),
            options=sum(len(q.options) for q in self.tree.questions),
            paths=_count_paths(self.tree, self.questions)[self.tree.settings.start],
            longest_path=self.remaining_depth[self.tree.settings.start],
            sources=sum(len(s.sources) for s in self.schemes.values()),
        )


# --------------------------------------------------------------------------- YAML with lines


def _read_yaml(path: Path, root: Path, problems: list[Problem]) -> tuple[Any, yaml.Node | None]:
    rel = _rel(path, root)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(rel, "", f"fichier illisible ({exc})", "enregistrez-le en UTF-8"))
        return None, None
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problems.append(
            Problem(
                rel,
                "",
                f"YAML invalide : {getattr(exc, 'problem', exc)}",
                "vérifiez l'indentation et mettez entre guillemets les textes contenant « : »",
                line,
            )
        )
        return None, None
    return data, node


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


def _schema_problems(
    exc: ValidationError, rel: str, entry: str, node: yaml.Node | None, prefix: Sequence[Any] = ()
) -> list[Problem]:
    out = []
    for err in exc.errors():
        loc = [*prefix, *err["loc"]]
        field_path = ".".join(str(p) for p in err["loc"]) or "(racine)"
        out.append(
            Problem(
                rel,
                entry,
                f"champ « {field_path} » : {err['msg']}",
                _fix_for(err),
                _line_of(node, loc),
            )
        )
    return out


def _fix_for(err: Any) -> str:
    kind = err["type"]
    if kind == "missing":
        return "ajoutez ce champ (voir knowledge/schema.py pour sa forme)"
    if kind == "extra_forbidden" and err["loc"] and err["loc"][-1] in ("warning", "note"):
        return (
            "ce champ a été scindé : `caution` (ce que la personne doit savoir, en clair) et "
            "`curators` (doutes, sources à revoir, avec `since` : jamais montrés aux usagers)"
        )
    if kind == "extra_forbidden":
        return "supprimez ce champ ou corrigez son nom (faute de frappe ?)"
    if kind == "string_pattern_mismatch":
        return "utilisez des minuscules sans accent ni espace (ex. « espace_test »), ou une URL https://"
    if kind in ("date_from_datetime_parsing", "date_parsing", "date_type"):
        return "écrivez la date au format AAAA-MM-JJ"
    if kind == "too_short":
        return "ce champ ne peut pas être vide : ajoutez au moins un élément"
    if kind == "string_type":
        return "écrivez un texte (entre guillemets s'il ressemble à un nombre ou une date)"
    if kind == "string_too_long":
        return "raccourcissez ce texte"
    if kind == "enum":
        return f"choisissez une valeur permise ({err.get('ctx', {}).get('expected', '')})"
    return "corrigez la valeur selon knowledge/schema.py"


# --------------------------------------------------------------------------- graph helpers


# --------------------------------------------------------------------------- loading


def load_knowledge(root: Path | None = None) -> KnowledgeBase:
    """Load and check the whole knowledge base; raise KnowledgeError listing every problem."""
    root = (root or KNOWLEDGE_DIR).resolve()
    problems: list[Problem] = []
    digest = hashlib.sha256()

    scheme_files = sorted((root / "schemes").glob("*.yaml"))
    if not scheme_files:
        problems.append(
            Problem(_rel(root / "schemes", root), "", "aucune fiche", "ajoutez des fichiers .yaml")
        )
    schemes: dict[str, Scheme] = {}
    scheme_nodes: dict[str, tuple[str, yaml.Node | None]] = {}
    for path in scheme_files:
        digest.update(path.name.encode() + path.read_bytes())
        rel = _rel(path, root)
        data, node = _read_yaml(path, root, problems)
        if data is None and node is None:
            continue
        entry = data.get("id", path.stem) if isinstance(data, dict) else path.stem
        try:
            scheme = Scheme.model_validate(data)
        except ValidationError as exc:
            problems.extend(_schema_problems(exc, rel, str(entry), node))
            continue
        if scheme.id in schemes:
            problems.append(
                Problem(
                    rel,
                    scheme.id,
                    f"identifiant en double (déjà dans {scheme_nodes[scheme.id][0]})",
                    "donnez un identifiant unique à chaque fiche",
                    _line_of(node, ["id"]),
                )
            )
            continue
        if path.stem != scheme.id:
            problems.append(
                Problem(
                    rel,
                    scheme.id,
                    f"le fichier s'appelle « {path.name} » mais l'id est « {scheme.id} »",
                    f"renommez le fichier en « {scheme.id}.yaml » (ou corrigez l'id)",
                    _line_of(node, ["id"]),
                )
            )
        schemes[scheme.id] = scheme
        scheme_nodes[scheme.id] = (rel, node)
        problems.extend(_check_sources(scheme, rel, node))

    problems.extend(_check_aliases(schemes, scheme_nodes))

    tree_path = root / "tree.yaml"
    tree: Tree | None = None
    if not tree_path.exists():
        problems.append(Problem(_rel(tree_path, root), "", "fichier absent", "créez tree.yaml"))
    else:
        digest.update(tree_path.read_bytes())
        data, node = _read_yaml(tree_path, root, problems)
        if data is not None:
            try:
                tree = Tree.model_validate(data)
            except ValidationError as exc:
                problems.extend(_tree_schema_problems(exc, _rel(tree_path, root), data, node))
            else:
                problems.extend(_check_tree(tree, schemes, _rel(tree_path, root), node))

    contacts, funders, gaps, entry_files, dir_sources = _load_directory(
        root, schemes, problems, digest
    )

    from knowledge.intents import INTENTS_FILE, load_intents  # it uses Problem, from here

    if (root / INTENTS_FILE).exists():
        digest.update((root / INTENTS_FILE).read_bytes())
    intents, intent_problems = load_intents(root)
    problems.extend(intent_problems)
    facts: dict[str, set[str]] | None = None
    if tree is not None:  # what a resource's `answers` may name
        facts = {}
        for question in tree.questions:
            facts.setdefault(question.fact, set()).update(o.value for o in question.options)
    nearby = load_nearby(root, schemes, set(), _read_yaml, problems, digest, facts)

    if problems:
        raise KnowledgeError(problems)
    assert tree is not None
    return KnowledgeBase(
        schemes=schemes,
        tree=tree,
        version=digest.hexdigest()[:12],
        root=root,
        contacts=contacts,
        funders=funders,
        gaps=gaps,
        entry_files=entry_files,
        directory_sources=dir_sources,
        intents=intents,
        nearby=nearby,
    )


def _load_directory(
    root: Path, schemes: dict[str, Scheme], problems: list[Problem], digest: Any
) -> tuple[
    list[Contact], list[Funder], list[KnownGap], dict[str, str], dict[str, dict[str, object]]
]:
    """knowledge/directory/*.yaml: contacts and funders, each sourced."""
    contacts: list[Contact] = []
    funders: list[Funder] = []
    gaps: list[KnownGap] = []
    entry_files: dict[str, str] = {}
    sources: dict[str, dict[str, object]] = {}
    seen: dict[str, str] = {}
    for path in sorted((root / "directory").glob("*.yaml")):
        digest.update(path.name.encode() + path.read_bytes())
        rel = _rel(path, root)
        data, node = _read_yaml(path, root, problems)
        if data is None:
            continue
        try:
            directory = Directory.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                loc = list(err["loc"])
                entry = ""
                if len(loc) >= 2 and loc[0] in ("contacts", "funders") and isinstance(loc[1], int):
                    try:
                        entry = str(data[loc[0]][loc[1]].get("id", ""))
                    except (KeyError, IndexError, TypeError, AttributeError):
                        entry = ""
                problems.append(
                    Problem(
                        rel,
                        entry,
                        f"champ « {'.'.join(str(p) for p in loc)} » : {err['msg']}",
                        _fix_for(err),
                        _line_of(node, loc),
                    )
                )
            continue
        sections: list[tuple[str, Sequence[Contact | Funder]]] = [
            ("contacts", directory.contacts),
            ("funders", directory.funders),
        ]
        for section, items in sections:
            for i, item in enumerate(items):
                at: list[str | int] = [section, i]
                problems.extend(
                    entry_problems(
                        rel,
                        node,
                        at,
                        item.id,
                        seen,
                        (item.sources, directory.sources),
                        (item.schemes, schemes),
                    )
                )
                entry_files[item.id] = path.stem
                where = _line_of(node, [*at, "scope", "epcis"])
                problems.extend(epci_problems(item.scope.epcis, rel, item.id, where))
        for i, gap in enumerate(directory.gaps):
            entry = f"gaps[{i}] {gap.region}/{gap.kind}"
            for key in gap.sources:
                if key not in directory.sources:
                    problems.append(
                        _unknown_source(
                            rel,
                            entry,
                            "le manque",
                            key,
                            directory.sources,
                            _line_of(node, ["gaps", i, "sources"]),
                        )
                    )
        contacts.extend(directory.contacts)
        funders.extend(directory.funders)
        gaps.extend(directory.gaps)
        for key, src in directory.sources.items():
            sources[f"{path.stem}:{key}"] = src.model_dump()
    problems.extend(_check_gaps(gaps, contacts))
    return contacts, funders, gaps, entry_files, sources


def _tree_schema_problems(
    exc: ValidationError, rel: str, data: Any, node: yaml.Node | None
) -> list[Problem]:
    out = []
    for err in exc.errors():
        loc = list(err["loc"])
        entry = ""
        if len(loc) >= 2 and loc[0] == "questions" and isinstance(loc[1], int):
            try:
                entry = str(data["questions"][loc[1]].get("id", f"question n°{loc[1] + 1}"))
            except (KeyError, IndexError, TypeError, AttributeError):
                entry = f"question n°{loc[1] + 1}"
        field_path = ".".join(str(p) for p in loc[2:] if loc[:1] == ["questions"]) or ".".join(
            str(p) for p in loc
        )
        out.append(
            Problem(
                rel,
                entry,
                f"champ « {field_path} » : {err['msg']}",
                _fix_for(err),
                _line_of(node, loc),
            )
        )
    return out


def load_cases(root: Path | None = None) -> list[tuple[str, Case]]:
    """The curators' test cases: (file:name, case)."""
    root = (root or KNOWLEDGE_DIR).resolve()
    problems: list[Problem] = []
    cases: list[tuple[str, Case]] = []
    for path in sorted((root / "cases").glob("*.yaml")):
        rel = _rel(path, root)
        data, node = _read_yaml(path, root, problems)
        if data is None:
            continue
        items = data.get("cases", []) if isinstance(data, dict) else []
        for i, item in enumerate(items):
            try:
                case = Case.model_validate(item)
            except ValidationError as exc:
                name = item.get("name", f"cas n°{i + 1}") if isinstance(item, dict) else str(i)
                problems.extend(_schema_problems(exc, rel, str(name), node, ("cases", i)))
                continue
            cases.append((f"{path.name}:{case.name}", case))
    if problems:
        raise KnowledgeError(problems)
    return cases
