"""Load the knowledge base from YAML and refuse it, with a useful message, when it is wrong.

Every problem names the file, the entry (scheme or question id), the field and the fix, so a
curator can correct the YAML without a developer.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError
from rapidfuzz import fuzz, process

from knowledge.schema import RESULT, Case, Contact, Directory, Funder, Question, Scheme, Tree

if TYPE_CHECKING:
    from knowledge.intents import Intent

KNOWLEDGE_DIR = Path(__file__).resolve().parent
NEG_INF = float("-inf")
#: question id + option value, so that an answer button stays under Telegram's 64 bytes
MAX_BUTTON_IDS = 48
# libyaml's parser when PyYAML has it (it keeps line marks too), the pure-Python one otherwise
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def normalize(text: str) -> str:
    """Lowercase, strip accents and punctuation: how people type, how we compare."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = []
    for ch in decomposed:
        if unicodedata.combining(ch):
            continue
        kept.append(ch if ch.isalnum() else " ")
    return " ".join("".join(kept).split())


@dataclass(frozen=True)
class Problem:
    file: str
    entry: str
    message: str
    fix: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        entry = f" [{self.entry}]" if self.entry else ""
        return f"{where}{entry}: {self.message}\n    → {self.fix}"


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
    directory_sources: dict[str, dict[str, object]] = field(default_factory=dict)
    intents: list[Intent] = field(default_factory=list)  # knowledge/intents.yaml
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


def _line_of(node: yaml.Node | None, loc: Iterable[str | int]) -> int | None:
    """The line (1-based) of the deepest YAML node that `loc` reaches."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    child = value
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            child = node.value[part]
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


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


def _suggest(value: str, choices: Iterable[str]) -> str:
    found = process.extractOne(value, list(choices), scorer=fuzz.ratio)
    return f" (vouliez-vous dire « {found[0]} » ?)" if found and found[1] >= 60 else ""


# --------------------------------------------------------------------------- graph helpers


def _edges(q: Question) -> list[str | None]:
    return [q.next_of(o) for o in q.options]


def _longest(tree: Tree, questions: dict[str, Question]) -> dict[str, int]:
    memo: dict[str, int] = {RESULT: 0}

    def visit(qid: str) -> int:
        if qid not in memo:
            memo[qid] = 1 + max(visit(n) for n in _edges(questions[qid]) if n is not None)
        return memo[qid]

    for qid in questions:
        visit(qid)
    return memo


def _count_paths(tree: Tree, questions: dict[str, Question]) -> dict[str, int]:
    memo: dict[str, int] = {RESULT: 1}

    def visit(qid: str) -> int:
        if qid not in memo:
            memo[qid] = sum(visit(n) for n in _edges(questions[qid]) if n is not None)
        return memo[qid]

    for qid in questions:
        visit(qid)
    return memo


def best_scores(
    tree: Tree, questions: dict[str, Question], scheme_ids: Iterable[str]
) -> dict[str, float]:
    """For each scheme, the highest score any path can give it (-inf if always excluded)."""
    ids = list(scheme_ids)
    memo: dict[str, dict[str, float]] = {RESULT: dict.fromkeys(ids, 0.0)}

    def visit(qid: str) -> dict[str, float]:
        if qid in memo:
            return memo[qid]
        best = dict.fromkeys(ids, NEG_INF)
        q = questions[qid]
        for opt in q.options:
            nxt = q.next_of(opt)
            if nxt is None:
                continue
            below = visit(nxt)
            gain: dict[str, float] = {}
            for eff in opt.effects:
                if eff.exclude:
                    gain[eff.scheme] = NEG_INF
                elif gain.get(eff.scheme, 0.0) != NEG_INF:
                    gain[eff.scheme] = gain.get(eff.scheme, 0.0) + eff.points
            for sid in ids:
                best[sid] = max(best[sid], gain.get(sid, 0.0) + below[sid])
        memo[qid] = best
        return best

    return visit(tree.settings.start)


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

    contacts, funders, dir_sources = _load_directory(root, schemes, problems, digest)

    from knowledge.intents import INTENTS_FILE, load_intents  # it uses Problem, from here

    if (root / INTENTS_FILE).exists():
        digest.update((root / INTENTS_FILE).read_bytes())
    intents, intent_problems = load_intents(root)
    problems.extend(intent_problems)

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
        directory_sources=dir_sources,
        intents=intents,
    )


def _load_directory(
    root: Path, schemes: dict[str, Scheme], problems: list[Problem], digest: Any
) -> tuple[list[Contact], list[Funder], dict[str, dict[str, object]]]:
    """knowledge/directory/*.yaml: contacts and funders, each sourced."""
    contacts: list[Contact] = []
    funders: list[Funder] = []
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
                if item.id in seen:
                    problems.append(
                        Problem(
                            rel,
                            item.id,
                            f"identifiant en double (déjà dans {seen[item.id]})",
                            "donnez un identifiant unique",
                            _line_of(node, [*at, "id"]),
                        )
                    )
                seen[item.id] = rel
                for sid in item.schemes:
                    if sid not in schemes:
                        problems.append(
                            Problem(
                                rel,
                                item.id,
                                f"fiche inconnue « {sid} »",
                                "utilisez l'id d'un fichier de knowledge/schemes/"
                                + _suggest(sid, schemes),
                                _line_of(node, [*at, "schemes"]),
                            )
                        )
                for key in item.sources:
                    if key not in directory.sources:
                        problems.append(
                            _unknown_source(
                                rel,
                                item.id,
                                "l'entrée",
                                key,
                                directory.sources,
                                _line_of(node, [*at, "sources"]),
                            )
                        )
        contacts.extend(directory.contacts)
        funders.extend(directory.funders)
        for key, src in directory.sources.items():
            sources[f"{path.stem}:{key}"] = src.model_dump()
    return contacts, funders, sources


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


def _unknown_source(
    rel: str, entry: str, where: str, key: str, known: Iterable[str], line: int | None
) -> Problem:
    return Problem(
        rel,
        entry,
        f"{where} cite la source inconnue « {key} »",
        "déclarez-la dans `sources:` ou corrigez la clé" + _suggest(key, known),
        line,
    )


def _check_sources(scheme: Scheme, rel: str, node: yaml.Node | None) -> list[Problem]:
    out = []
    for where, keys in scheme.sourced_items():
        path = where.replace("]", "").split("[")
        loc: list[str | int] = [path[0], int(path[1])]
        if not keys:
            out.append(
                Problem(
                    rel,
                    scheme.id,
                    f"« {where} » n'a pas de source",
                    "ajoutez `sources: [clé]` avec une clé de la liste `sources` du fichier "
                    "(loi ou URL, avec verified_at)",
                    _line_of(node, loc),
                )
            )
        for key in keys:
            if key not in scheme.sources:
                out.append(
                    _unknown_source(
                        rel,
                        scheme.id,
                        f"« {where} »",
                        key,
                        scheme.sources,
                        _line_of(node, [*loc, "sources"]),
                    )
                )
    return out


def _check_aliases(
    schemes: dict[str, Scheme], nodes: dict[str, tuple[str, yaml.Node | None]]
) -> list[Problem]:
    out = []
    seen: dict[str, str] = {}
    for sid, scheme in schemes.items():
        names = {normalize(scheme.name), normalize(scheme.short_name), normalize(sid)}
        terms = [(normalize(a), a) for a in scheme.aliases]
        own: set[str] = set()
        for norm, raw in [(n, n) for n in names] + terms:
            if not norm or norm in own:
                continue
            own.add(norm)
            other = seen.get(norm)
            if other is not None and other != sid:
                rel, node = nodes[sid]
                out.append(
                    Problem(
                        rel,
                        sid,
                        f"le nom ou alias « {raw} » est déjà utilisé par la fiche « {other} »",
                        "chaque alias doit désigner une seule fiche : retirez-le de l'une des deux",
                        _line_of(node, ["aliases"]),
                    )
                )
            else:
                seen[norm] = sid
    return out


def _check_tree(
    tree: Tree, schemes: dict[str, Scheme], rel: str, node: yaml.Node | None
) -> list[Problem]:
    out: list[Problem] = []
    questions: dict[str, Question] = {}
    qline: dict[str, int | None] = {}
    for i, q in enumerate(tree.questions):
        line = _line_of(node, ["questions", i])
        if q.id == RESULT:
            out.append(Problem(rel, q.id, "« result » est réservé", "renommez la question", line))
        if q.id in questions:
            out.append(Problem(rel, q.id, "identifiant de question en double", "renommez-la", line))
            continue
        questions[q.id] = q
        qline[q.id] = line
        values = [o.value for o in q.options]
        for v in {v for v in values if values.count(v) > 1}:
            out.append(
                Problem(rel, q.id, f"option « {v} » en double", "donnez-lui une autre valeur", line)
            )
        for j, opt in enumerate(q.options):
            if len(q.id) + len(opt.value) > MAX_BUTTON_IDS:
                out.append(
                    Problem(
                        rel,
                        q.id,
                        f"« {q.id} » + « {opt.value} » font {len(q.id) + len(opt.value)} "
                        f"caractères : trop long pour un bouton Telegram (64 octets)",
                        f"raccourcissez l'id de la question ou la valeur de l'option "
                        f"({MAX_BUTTON_IDS} caractères à eux deux au plus)",
                        _line_of(node, ["questions", i, "options", j, "value"]) or line,
                    )
                )
        labels = [normalize(o.label) for o in q.options]
        for lab in {lab for lab in labels if labels.count(lab) > 1}:
            out.append(
                Problem(rel, q.id, f"libellé « {lab} » en double", "distinguez les libellés", line)
            )
    if tree.settings.start not in questions:
        out.append(
            Problem(
                rel,
                "settings",
                f"la question de départ « {tree.settings.start} » n'existe pas",
                "indiquez l'id d'une question" + _suggest(tree.settings.start, questions),
                _line_of(node, ["settings", "start"]),
            )
        )
        return out

    broken = False
    for i, q in enumerate(tree.questions):
        for j, opt in enumerate(q.options):
            loc: list[str | int] = ["questions", i, "options", j]
            target = q.next_of(opt)
            if target is None:
                broken = True
                out.append(
                    Problem(
                        rel,
                        q.id,
                        f"impasse : l'option « {opt.value} » ne mène nulle part",
                        "ajoutez `next:` à l'option ou à la question (id d'une question, "
                        "ou « result » pour afficher le résultat)",
                        _line_of(node, loc),
                    )
                )
            elif target != RESULT and target not in questions:
                broken = True
                out.append(
                    Problem(
                        rel,
                        q.id,
                        f"l'option « {opt.value} » mène à la question inconnue « {target} »",
                        "corrigez `next`" + _suggest(target, questions),
                        _line_of(node, [*loc, "next"]) or _line_of(node, ["questions", i, "next"]),
                    )
                )
            for k, eff in enumerate(opt.effects):
                if eff.scheme not in schemes:
                    out.append(
                        Problem(
                            rel,
                            q.id,
                            f"l'option « {opt.value} » vise la fiche inconnue « {eff.scheme} »",
                            "utilisez l'id d'un fichier de knowledge/schemes/"
                            + _suggest(eff.scheme, schemes),
                            _line_of(node, [*loc, "effects", k, "scheme"]),
                        )
                    )
    if broken:
        return out

    # cycles (depth-first search with colours)
    state: dict[str, int] = {}
    cycle_found: list[list[str]] = []

    def dfs(qid: str, stack: list[str]) -> None:
        state[qid] = 1
        for nxt in _edges(questions[qid]):
            if nxt is None or nxt == RESULT:
                continue
            if state.get(nxt) == 1:
                cycle_found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                dfs(nxt, [*stack, nxt])
        state[qid] = 2

    for qid in questions:
        if qid not in state:
            dfs(qid, [qid])
    for cyc in cycle_found:
        out.append(
            Problem(
                rel,
                cyc[0],
                "boucle : " + " → ".join(cyc),
                "une question ne peut pas mener (même indirectement) à elle-même : "
                "changez un des `next`",
                qline[cyc[0]],
            )
        )
    if cycle_found:
        return out

    # reachability
    reached = {tree.settings.start}
    todo = [tree.settings.start]
    while todo:
        for nxt in _edges(questions[todo.pop()]):
            if nxt and nxt != RESULT and nxt not in reached:
                reached.add(nxt)
                todo.append(nxt)
    for qid in questions:
        if qid not in reached:
            out.append(
                Problem(
                    rel,
                    qid,
                    "question inaccessible : aucune option n'y mène",
                    "faites-y pointer un `next`, ou supprimez-la",
                    qline[qid],
                )
            )

    # every scheme must be recommendable on at least one path
    if not out:
        best = best_scores(tree, questions, schemes)
        threshold = tree.settings.recommend_threshold
        for sid, score in best.items():
            if score < threshold:
                got = "exclue sur tous les chemins" if score == NEG_INF else f"{score:g} au mieux"
                out.append(
                    Problem(
                        f"knowledge/schemes/{sid}.yaml",
                        sid,
                        f"aucun chemin ne recommande cette fiche ({got}, seuil {threshold})",
                        "ajoutez dans tree.yaml des `effects` qui lui donnent des points "
                        "sur au moins un chemin",
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
