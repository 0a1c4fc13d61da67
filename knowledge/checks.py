"""Structural checks of the knowledge base: what is wrong or incomplete, and where.

`knowledge.loader` reads the YAML and calls the structural checks here (sources, aliases, the
decision tree, known gaps); `knowledge.reports` holds what `kb check` and `kb stale` report on
a loaded base. Every problem names the file, the entry and the fix.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import yaml
from rapidfuzz import fuzz, process

from knowledge.schema import RESULT, Contact, KnownGap, Question, Scheme, Tree

NEG_INF = float("-inf")
#: question id + option value, so that an answer button stays under Telegram's 64 bytes
MAX_BUTTON_IDS = 48


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


def _suggest(value: str, choices: Iterable[str]) -> str:
    found = process.extractOne(value, list(choices), scorer=fuzz.ratio)
    return f" (vouliez-vous dire « {found[0]} » ?)" if found and found[1] >= 60 else ""


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


def entry_problems(
    rel: str,
    node: yaml.Node | None,
    at: list[str | int],
    entry: str,
    seen: dict[str, str],
    cited: tuple[Iterable[str], Collection[str]],
    fiches: tuple[Iterable[str], Collection[str]],
) -> list[Problem]:
    """What every entry of a directory or nearby file must pass: an id no other entry has
    (`seen`: id → file, filled here), sources declared in its file and fiches that exist
    (`cited` and `fiches`: what the entry names, what is known)."""
    out: list[Problem] = []
    if entry in seen:
        out.append(
            Problem(
                rel,
                entry,
                f"identifiant en double (déjà dans {seen[entry]})",
                "donnez un identifiant unique",
                _line_of(node, [*at, "id"]),
            )
        )
    seen[entry] = rel
    keys, known = cited
    for key in keys:
        if key not in known:
            line = _line_of(node, [*at, "sources"])
            out.append(_unknown_source(rel, entry, "l'entrée", key, known, line))
    sids, schemes = fiches
    for sid in sids:
        if sid not in schemes:
            out.append(
                Problem(
                    rel,
                    entry,
                    f"fiche inconnue « {sid} »",
                    "utilisez l'id d'un fichier de knowledge/schemes/" + _suggest(sid, schemes),
                    _line_of(node, [*at, "schemes"]),
                )
            )
    return out


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


def _check_gaps(gaps: list[KnownGap], contacts: list[Contact]) -> list[Problem]:
    """A known gap names a real replacement and does not contradict a contact of the région."""
    out: list[Problem] = []
    ids = {c.id: c for c in contacts}
    seen: set[tuple[str, str]] = set()
    for gap in gaps:
        entry = f"manque {gap.region}/{gap.kind}"
        if (gap.region, gap.kind) in seen:
            out.append(
                Problem("knowledge/directory", entry, "manque déclaré deux fois", "gardez-en un")
            )
        seen.add((gap.region, gap.kind))
        if gap.instead is not None and gap.instead not in ids:
            out.append(
                Problem(
                    "knowledge/directory",
                    entry,
                    f"« instead » vise le contact inconnu « {gap.instead} »",
                    "utilisez l'id d'un contact" + _suggest(gap.instead, ids),
                )
            )
        present = [
            c.id
            for c in contacts
            if c.active and c.kind == gap.kind and gap.region in c.scope.regions
        ]
        if present:
            out.append(
                Problem(
                    "knowledge/directory",
                    entry,
                    f"déclaré manquant, mais {', '.join(present)} couvre cette région",
                    "supprimez le manque, ou corrigez la zone du contact",
                )
            )
    return out
