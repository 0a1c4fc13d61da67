"""Command line: `python -m bot run | chat | db upgrade | where | kb check | kb stale | …`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from knowledge.loader import KnowledgeBase, KnowledgeError, load_cases, load_knowledge

if TYPE_CHECKING:
    from bot.platform.config import Settings


def _settings() -> Settings | None:
    """The settings, or None after saying which ones are invalid (never their values)."""
    from bot.platform.config import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def _load(root: Path | None) -> KnowledgeBase | None:
    from knowledge.routing_rules import load_routing_rules

    try:
        kb = load_knowledge(root)
        load_routing_rules(kb)  # the routing rules are part of the knowledge base
        return kb
    except KnowledgeError as exc:
        print(exc.render(), file=sys.stderr)
        return None


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.channels.console import Console
    from bot.dialogue.router import Conversation
    from bot.dialogue.service import ChatService
    from bot.platform.storage import ConversationStore

    settings = _settings()
    if settings is None:
        return 2
    kb = _load(args.knowledge)
    if kb is None:
        return 2
    url = args.database or settings.database_url

    async def main() -> int:
        store = ConversationStore(url)
        try:
            await store.migrate()
            conversation = Conversation(kb, retention_days=settings.retention_days)
            service = ChatService(conversation, store)
            console = Console(service, chat_key=f"console:{args.user}")
            return await console.run(fresh=args.new)
        finally:
            await store.close()

    return asyncio.run(main())


NO_TOKEN = """\
Boussole ne peut pas démarrer sur Telegram : TELEGRAM_BOT_TOKEN n'est pas défini.

  1. Créez un bot auprès de @BotFather sur Telegram et copiez le jeton qu'il donne.
  2. Mettez-le dans l'environnement, ou dans un fichier .env du dossier courant :
       TELEGRAM_BOT_TOKEN=123456:ABC...
  3. Relancez : python -m bot run

Pour essayer l'orientation sans Telegram, dans ce terminal : python -m bot chat
"""


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings()
    if settings is None:
        return 2
    if settings.token is None:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    kb = _load(args.knowledge)
    if kb is None:
        return 2
    from bot.channels.telegram import run
    from bot.leads.partners import PartnersError

    try:
        return run(settings, kb, args.knowledge)
    except PartnersError as exc:
        print(exc, file=sys.stderr)
        return 2


def cmd_web(args: argparse.Namespace) -> int:
    from bot.platform.config import Settings

    settings = Settings()
    if args.database:
        settings = settings.model_copy(update={"database_url": args.database})
    kb = _load(args.knowledge)
    if kb is None:
        return 2
    from bot.channels.web_chat import serve
    from bot.leads.partners import PartnersError

    host = args.host or settings.webhook_listen
    port = args.port or settings.webhook_port
    print(f"Boussole sur le web : http://{host}:{port}/chat (Ctrl-C pour arrêter)")
    try:
        return serve(settings, kb, host, port)
    except PartnersError as exc:
        print(exc, file=sys.stderr)
        return 2


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from bot.platform.storage import ConversationStore

    url = args.database
    if url is None:
        settings = _settings()
        if settings is None:
            return 2
        url = settings.database_url

    async def main() -> str:
        store = ConversationStore(url)
        try:
            return await store.migrate()
        finally:
            await store.close()

    print(f"✓ base de données à jour (migration {asyncio.run(main())})")
    return 0


def _today(args: argparse.Namespace) -> date:
    return args.today or date.today()


def cmd_kb_check(args: argparse.Namespace) -> int:
    from knowledge.reports import audit, open_notes, primary_sources

    kb = _load(args.knowledge)
    if kb is None:
        print("\n✗ base refusée : corrigez les problèmes ci-dessus.", file=sys.stderr)
        return 1
    today = _today(args)
    problems = audit(kb, today)
    s = kb.stats
    verdict = "✗ base de connaissances à corriger" if problems else "✓ base de connaissances valide"
    print(f"{verdict} (version {kb.version}, au {today.isoformat()})")
    print(f"  fiches            : {s.schemes}")
    print(f"  questions         : {s.questions} ({s.options} réponses possibles)")
    print(f"  chemins           : {s.paths}")
    print(f"  chemin le plus long : {s.longest_path} questions")
    print(f"  sources citées    : {s.sources}")
    inactive = sum(not c.active for c in kb.contacts)
    print(f"  contacts          : {len(kb.contacts)} ({inactive} inactifs)")
    print(f"  financements      : {len(kb.funders)}")
    print(f"  manques connus    : {len(kb.gaps)}")
    near = kb.nearby
    print(
        f"  près de chez vous : {len(near.initiatives)} initiatives, {len(near.maps)} listes de"
        f" réseaux, {len(near.directories)} annuaires, {len(near.calls)} appels,"
        f" {len(near.resources)} ressources"
    )
    from knowledge.routing_rules import load_routing_rules

    rules = load_routing_rules(kb)
    count = sum(len(x) for x in (rules.reach, rules.national, rules.first, rules.instruments))
    print(f"  règles d'orientation : {count + len(rules.main_need)}")
    _print_coverage(kb)
    print(
        "  sources primaires par fiche (Légifrance, service-public, sites officiels ou du réseau) :"
    )
    for sid, (primary, total) in sorted(primary_sources(kb).items()):
        print(f"    {sid:32} {primary}/{total}{'  ← aucune' if not primary else ''}")
    notes = open_notes(kb)
    print(f"  notes de curateurs ouvertes : {len(notes)}")
    for note in notes:
        print(f"    {note.age_days(today):>4} j  {note.file} [{note.entry}] {_short(note.text)}")
    from bot.dialogue.intents import IntentMatcher

    print(f"  intentions        : {len(kb.intents)}")
    problems = [*problems, *IntentMatcher(kb.intents).conflicts()]
    if problems:
        print(f"\n✗ {len(problems)} problème{'s' * (len(problems) > 1)} :", file=sys.stderr)
        for problem in problems:
            print(f"- {problem}", file=sys.stderr)
        return 1
    return 0


def _short(text: str, width: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_coverage(kb: KnowledgeBase) -> None:
    from bot.territory.geography import Geography
    from bot.territory.routing import KIND_LABELS, Router, in_region
    from knowledge.schema import REGIONS

    gaps = Router(kb, Geography()).gaps()
    known = {(g.region, g.kind) for g in kb.gaps}
    missing = {code: [k for k in kinds if (code, k) not in known] for code, kinds in gaps.items()}
    complete = sum(not kinds for kinds in gaps.values())
    silent = {code: kinds for code, kinds in missing.items() if kinds}
    print(f"  régions complètes : {complete} sur {len(gaps)}")
    print(f"  régions sans trou silencieux : {len(gaps) - len(silent)} sur {len(gaps)}")
    for code, kinds in sorted(gaps.items(), key=lambda kv: REGIONS[kv[0]]):
        if not kinds:
            continue
        labels = [KIND_LABELS[k] + (" (manque connu)" if (code, k) in known else "") for k in kinds]
        print(f"    manque {in_region(code)} : {', '.join(labels)}")


def cmd_kb_stale(args: argparse.Namespace) -> int:
    from knowledge.reports import verified

    kb = _load(args.knowledge)
    if kb is None:
        return 1
    today = _today(args)
    months = args.months or 0
    facts = [d for d in verified(kb) if d.age_days(today) >= months * 30.44]
    head = f"plus de {months} mois" if months else "toutes"
    print(f"Faits par ancienneté de vérification ({head}, au {today.isoformat()}) : {len(facts)}")
    for d in facts:
        age = d.age_days(today)
        print(f"  {d.when.isoformat()}  {age:>4} j  {d.file} [{d.entry}] {_short(d.text, 60)}")
    return 0


def cmd_kb_export(args: argparse.Namespace) -> int:
    import json

    import jsonschema

    from knowledge.export import export, json_schema

    kb = _load(args.knowledge)
    if kb is None:
        return 1
    data = export(kb, _today(args))
    schema = json_schema()
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as exc:
        print(f"✗ export non conforme à son schéma : {exc.message}", file=sys.stderr)
        return 1
    text = json.dumps(data, ensure_ascii=False, indent=1)
    if args.schema:
        Path(args.schema).write_text(json.dumps(schema, ensure_ascii=False, indent=1), "utf-8")
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"✓ {len(data['schemes'])} fiches, {len(data['contacts'])} contacts exportés")
    else:
        print(text)
    return 0


def cmd_kb_graph(args: argparse.Namespace) -> int:
    from bot.orientation.graph import mermaid

    kb = _load(args.knowledge)
    if kb is None:
        return 1
    text = mermaid(kb)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"diagramme écrit dans {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_kb_cases(args: argparse.Namespace) -> int:
    from statistics import median

    from bot.orientation.cases import play_case, run_case
    from bot.orientation.engine import Engine

    kb = _load(args.knowledge)
    if kb is None:
        return 1
    try:
        cases = load_cases(args.knowledge)
    except KnowledgeError as exc:
        print(exc.render(), file=sys.stderr)
        return 1
    engine = Engine(kb)
    failed = 0
    counts: list[int] = []
    for name, case in cases:
        failures = run_case(engine, case)
        asked = len(play_case(engine, case).asked)
        if case.expect_next_question is None:  # a whole orientation, not a step of the path
            counts.append(asked)
        if failures:
            failed += 1
            print(f"✗ {name} ({asked} q.)")
            for f in failures:
                print(f"    {f}")
        else:
            print(f"✓ {name} ({asked} q.)")
    print(f"{len(cases) - failed} passed, {failed} failed")
    if counts:
        print(f"questions posées : médiane {median(counts):g}, max {max(counts)}")
    return 1 if failed else 0


DOCS = Path(__file__).resolve().parent.parent / "docs" / "webhook.md"


def cmd_docs(args: argparse.Namespace) -> int:
    from bot.leads.model import with_fields_table

    if not DOCS.exists():
        print(f"{DOCS} introuvable : lancez cette commande depuis le dépôt", file=sys.stderr)
        return 1
    text = DOCS.read_text(encoding="utf-8")
    updated = with_fields_table(text)
    if updated != text:
        DOCS.write_text(updated, encoding="utf-8")
        print(f"{DOCS} : table des champs du lead mise à jour")
    else:
        print(f"{DOCS} : table des champs du lead déjà à jour")
    return 0


def cmd_where(args: argparse.Namespace) -> int:
    import json

    from bot.territory.geography import Geography

    resolution = Geography().resolve(args.text)
    print(json.dumps(resolution.as_dict(), ensure_ascii=False, indent=2))
    return 0 if resolution.candidates else 1


def version() -> str:
    try:
        return metadata.version("boussole")
    except metadata.PackageNotFoundError:  # a checkout on PYTHONPATH, not installed
        return "(non installé)"


def program_name(argv0: str | None = None) -> str:
    """How the person called us: `boussole` (the installed command) or `python -m bot`."""
    name = Path(argv0 if argv0 is not None else sys.argv[0]).name
    return "python -m bot" if name in ("__main__.py", "", "-c") else name


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or program_name(),
        description="Boussole : orientation vers les coopérations de l'ESS",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    parser.add_argument(
        "--knowledge", type=Path, default=None, help="dossier de la base (par défaut : knowledge/)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    chat = sub.add_parser("chat", help="l'orientation dans le terminal")
    chat.add_argument("--new", action="store_true", help="repartir de zéro")
    chat.add_argument("--user", default="local", help="nom de la conversation (par défaut : local)")
    chat.add_argument(
        "--database", help="URL SQLAlchemy (par défaut : DATABASE_URL, ou SQLite boussole.db)"
    )
    chat.set_defaults(func=cmd_chat)
    sub.add_parser(
        "run", help="le bot Telegram (TELEGRAM_BOT_TOKEN, BOT_MODE, DATABASE_URL…)"
    ).set_defaults(func=cmd_run)
    web = sub.add_parser("web", help="la conversation sur une page web, sans Telegram (/chat)")
    web.add_argument("--host", help="adresse d'écoute (par défaut : WEBHOOK_LISTEN)")
    web.add_argument("--port", type=int, help="port (par défaut : WEBHOOK_PORT)")
    web.add_argument(
        "--database", help="URL SQLAlchemy (par défaut : DATABASE_URL, ou SQLite boussole.db)"
    )
    web.set_defaults(func=cmd_web)
    db = sub.add_parser("db", help="la base de données des conversations")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="appliquer les migrations (Alembic)")
    upgrade.add_argument("--database", help="URL SQLAlchemy (par défaut : DATABASE_URL)")
    upgrade.set_defaults(func=cmd_db_upgrade)
    where = sub.add_parser("where", help="résoudre un territoire (code postal, commune…) en JSON")
    where.add_argument("text", help="ce que la personne tape, ex. « 62000 » ou « colombelle »")
    where.set_defaults(func=cmd_where)
    sub.add_parser(
        "docs", help="regénérer la table des champs du lead dans docs/webhook.md"
    ).set_defaults(func=cmd_docs)
    kb = sub.add_parser("kb", help="la base de connaissances")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    check = kb_sub.add_parser("check", help="valider la base et afficher un résumé")
    check.add_argument("--today", type=date.fromisoformat, help="la date du jour (AAAA-MM-JJ)")
    check.set_defaults(func=cmd_kb_check)
    stale = kb_sub.add_parser("stale", help="les faits par date de vérification, du plus ancien")
    stale.add_argument("--months", type=int, help="seulement ceux vérifiés il y a N mois ou plus")
    stale.add_argument("--today", type=date.fromisoformat, help="la date du jour (AAAA-MM-JJ)")
    stale.set_defaults(func=cmd_kb_stale)
    graph = kb_sub.add_parser("graph", help="l'arbre de décision en diagramme Mermaid")
    graph.add_argument("-o", "--output", help="fichier de sortie (sinon : écran)")
    graph.set_defaults(func=cmd_kb_graph)
    export = kb_sub.add_parser(
        "export", help="la base en JSON ouvert (Licence Ouverte 2.0), validée par son JSON Schema"
    )
    export.add_argument("-o", "--output", help="fichier JSON (sinon : écran)")
    export.add_argument("--schema", help="écrire aussi le JSON Schema dans ce fichier")
    export.add_argument("--today", type=date.fromisoformat, help="la date de l'export")
    export.set_defaults(func=cmd_kb_export)
    kb_sub.add_parser("cases", help="jouer les cas de test des curateurs").set_defaults(
        func=cmd_kb_cases
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
