"""The deployment files: what can be checked on this machine is checked for real."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
import yaml
from dotenv import dotenv_values

from bot.platform.config import BotMode, Settings, SettingsError, load_settings
from bot.platform.storage import head_revision
from tests.conftest import require_or_skip

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


@pytest.mark.slow
def test_the_package_carries_the_whole_knowledge_base_and_the_migrations(tmp_path: Path) -> None:
    """The Docker image installs the package (not the checkout): nothing may be left out."""
    source = tmp_path / "source"  # a copy, so that the build leaves the checkout clean
    for name in ("pyproject.toml", "README.md"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    for folder in ("bot", "handlers", "knowledge"):
        shutil.copytree(
            ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("boussole-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = [
        *(ROOT / "knowledge").rglob("*"),
        *(ROOT / "bot").glob("*/templates/*"),
        *(ROOT / "bot" / "platform" / "migrations").rglob("*"),
    ]
    in_repo = {
        str(p.relative_to(ROOT)) for p in shipped if p.is_file() and "__pycache__" not in p.parts
    }
    assert in_repo - names == set()

    # installed from the wheel alone (as in the image), the bot finds everything it needs
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True
        )

    where = run("-c", "import bot, knowledge; print(bot.__file__, knowledge.__file__)")
    assert where.stdout.count(str(site)) == 2, where.stdout
    assert run("-m", "bot", "kb", "check").returncode == 0
    database = f"sqlite+aiosqlite:///{tmp_path / 'image.db'}"
    upgraded = run("-m", "bot", "db", "upgrade", "--database", database)
    assert upgraded.returncode == 0 and f"migration {head_revision()}" in upgraded.stdout, (
        upgraded.stderr
    )
    assert '"departement"' in run("-m", "bot", "where", "62000").stdout
    # the CLI says its name and the installed version; the metadata carries the SPDX licence
    assert run("-m", "bot", "--version").stdout.strip() == "python -m bot 0.1.0"
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "License-Expression: MIT" in text
    assert "tornado" not in text  # no webhooks extra
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "boussole = bot.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        require_or_skip("nginx not installed (Debian package nginx-light; .ci/run installs it)")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=bot.example.org",
            "-keyout",
            str(tmp_path / "key.pem"),
            "-out",
            str(tmp_path / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    site = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    directives = "\n".join(line for line in site.splitlines() if not line.lstrip().startswith("#"))
    assert "http2 on;" in directives and "ssl http2" not in directives
    version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", version)
    assert found, version
    if tuple(int(part) for part in found.groups()) < (1, 25, 1):
        # `http2 on;` is nginx >= 1.25.1; Debian 12's 1.22 checks the rest with the older
        # spelling, exactly as the file's header tells such an installation to do
        site = site.replace("    http2 on;\n", "").replace(" ssl;", " ssl http2;")
    live = "/etc/letsencrypt/live/bot.example.org/"
    site = site.replace(live + "fullchain.pem", str(tmp_path / "cert.pem"))
    site = site.replace(live + "privkey.pem", str(tmp_path / "key.pem"))
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        f"events {{}}\nhttp {{\n  access_log off;\n  include {tmp_path}/site.conf;\n}}\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [nginx, "-t", "-c", str(main), "-p", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "syntax is ok" in done.stderr


def test_compose_workers_share_one_database_and_run_migrations_first() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    workers = [name for name in services if name.startswith("worker")]
    assert len(workers) >= 2
    for name in workers:
        worker = services[name]
        assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "database_url" in worker["secrets"] and worker["restart"] == "unless-stopped"
    assert services["migrate"]["command"] == ["python", "-m", "bot", "db", "upgrade"]
    ports = [services[n]["ports"][0] for n in workers]
    upstream = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    for port in ports:  # nginx forwards to exactly the ports the workers publish
        assert f"server {port.rsplit(':', 1)[0]} " in upstream


def test_dockerfile_runs_as_a_user_with_a_healthcheck_and_the_knowledge_base() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "USER boussole" in dockerfile and "HEALTHCHECK" in dockerfile
    assert "/healthz" in dockerfile and "COPY knowledge ./knowledge" in dockerfile
    assert "python -m bot kb check" in dockerfile  # an invalid base fails the build
    unit = (DEPLOY / "boussole@.service").read_text(encoding="utf-8")
    assert "ExecReload=/bin/kill -HUP $MAINPID" in unit and "User=boussole" in unit


# ------------------------------------------------------------ as Compose and systemd load it

COMPOSE_SCHEMA = ROOT / "tests" / "fixtures" / "compose-spec" / "compose-spec.json"
TOKEN = "123456:from-the-secret-file"
DATABASE = "postgresql+asyncpg://boussole:pw@postgres:5432/boussole"


def filled_example(**values: str) -> str:
    """.env.example as the README says to fill it (``cp .env.example .env``, then edit)."""
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    for name, value in values.items():
        text = re.sub(rf"^(# )?{name}=.*$", f"{name}={value}", text, count=1, flags=re.M)
    return text


def settings_from(env: dict[str, str], secrets: Path | None, cwd: Path) -> Settings:
    """Settings exactly as a process with this environment, these /run/secrets and this
    working directory loads them (`bot run` calls load_settings, i.e. Settings())."""
    old_env, old_cwd = dict(os.environ), Path.cwd()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        return Settings(_secrets_dir=str(secrets) if secrets else None)
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)


def test_compose_file_is_valid_by_the_compose_specification() -> None:
    """Validated with the Compose specification's own JSON schema
    (github.com/compose-spec/compose-spec, schema/compose-spec.json, Apache-2.0)."""
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    errors = [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(compose)
    ]
    assert errors == []
    broken = {**compose, "services": {"worker1": {"env_file": [{"required": False}]}}}
    assert list(validator.iter_errors(broken))  # the schema does check what it is given


def container_env(service: dict[str, object], env_file: Path) -> dict[str, str]:
    """The container's environment by Compose's rules: the image's ENV, then `env_file:`,
    then `environment:` (each outranks the one before)."""
    env: dict[str, str] = {}
    for line in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").split("\nENV ")[1:]:
        block = line.split("\n\n")[0].split("\nEXPOSE")[0].split("\nWORKDIR")[0]
        for pair in shlex.split(block.replace("\\\n", " ")):
            name, _, value = pair.partition("=")
            env[name] = value
    files = service.get("env_file", [])
    assert isinstance(files, list)
    for entry in files:
        assert isinstance(entry, dict)
        assert entry["path"] == "../.env" and entry["required"] is False
        if env_file.exists():
            env.update({k: v or "" for k, v in dotenv_values(env_file).items()})
    environment = service.get("environment", {})
    assert isinstance(environment, dict)
    env.update({str(k): str(v) for k, v in environment.items()})
    return env


def mount_secrets(compose: dict[str, object], service: dict[str, object], run: Path) -> None:
    """/run/secrets as Compose mounts it: each secret's file under its target name."""
    declared = compose["secrets"]
    assert isinstance(declared, dict)
    secrets = service["secrets"]
    assert isinstance(secrets, list)
    for entry in secrets:
        source = entry if isinstance(entry, str) else entry["source"]
        target = entry if isinstance(entry, str) else entry.get("target", source)
        (run / target).write_text(
            (DEPLOY / declared[source]["file"]).read_text(encoding="utf-8")
            if (DEPLOY / declared[source]["file"]).exists()
            else {
                "telegram_bot_token": TOKEN,
                "webhook_secret": "s3cret_from-file",
                "database_url": DATABASE,
                "partners": "organisations: []\n",
            }[source],
            encoding="utf-8",
        )


@pytest.mark.parametrize(
    "dotenv",
    [
        {},  # README: cp .env.example .env, only WEBHOOK_URL set
        {"BOT_MODE": "polling", "DATABASE_URL": "sqlite+aiosqlite:///boussole.db"},
    ],
    ids=["example", "example-with-local-values"],
)
def test_compose_workers_get_the_secrets_whatever_the_env_file_says(
    tmp_path: Path, dotenv: dict[str, str]
) -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    env_file = tmp_path / ".env"
    env_file.write_text(
        filled_example(WEBHOOK_URL="https://bot.example.org/telegram", **dotenv),
        encoding="utf-8",
    )
    for name in ("worker1", "worker2", "migrate"):
        service = {**compose["x-worker"], **compose["services"][name]}
        run = tmp_path / name / "run-secrets"
        run.mkdir(parents=True)
        app = tmp_path / name / "app"  # WORKDIR /app: no .env (.dockerignore)
        app.mkdir()
        mount_secrets(compose, service, run)
        settings = settings_from(container_env(service, env_file), run, app)
        assert settings.token == TOKEN
        assert settings.database_url == DATABASE
        assert settings.bot_mode is BotMode.webhook and settings.webhook_port == 8080
        assert settings.webhook_secret is not None
        assert settings.partners_file == Path("/run/secrets/partners.yaml")
        assert (run / settings.partners_file.name).exists()  # mounted where it points
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert ".env" in ignored and "deploy/secrets" in ignored
    assert "deploy/secrets/" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()


def test_compose_without_env_file_refuses_to_start_and_says_what_to_set(tmp_path: Path) -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    service = {**compose["x-worker"], **compose["services"]["worker1"]}
    run, app = tmp_path / "run", tmp_path / "app"
    run.mkdir()
    app.mkdir()
    mount_secrets(compose, service, run)
    with pytest.raises(SettingsError, match="WEBHOOK_URL") as refused:
        old_env, old_cwd = dict(os.environ), Path.cwd()
        os.environ.clear()
        os.environ.update(container_env(service, tmp_path / "missing.env"))
        os.chdir(app)
        try:
            load_settings(_secrets_dir=str(run))
        finally:
            os.chdir(old_cwd)
            os.environ.clear()
            os.environ.update(old_env)
    assert TOKEN not in str(refused.value) and "s3cret" not in str(refused.value)


def systemd_env(unit: str, instance: str, env_file: Path) -> tuple[dict[str, str], list[str]]:
    """The environment of `bot run` by systemd's rules: Environment=, then EnvironmentFile=
    (which overrides it), then the assignments ExecStart= passes to env(1); and the command."""
    unit = unit.replace("%i", instance)
    env: dict[str, str] = {}
    for line in unit.splitlines():
        if line.startswith("Environment="):
            for pair in shlex.split(line.removeprefix("Environment=")):
                name, _, value = pair.partition("=")
                env[name] = value
    for line in unit.splitlines():
        if line.startswith("EnvironmentFile="):
            assert line.removeprefix("EnvironmentFile=") == "/etc/boussole/boussole.env"
            env.update({k: v or "" for k, v in dotenv_values(env_file).items()})
    start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    words = shlex.split(start.removeprefix("ExecStart="))
    if words[0] == "/usr/bin/env":
        words.pop(0)
        while "=" in words[0]:
            name, _, value = words.pop(0).partition("=")
            env[name] = value
    return env, words


@pytest.mark.parametrize(
    "local",
    [{}, {"BOT_MODE": "polling", "WEBHOOK_PORT": "8080", "WEBHOOK_LISTEN": "0.0.0.0"}],
    ids=["example", "example-with-polling"],
)
def test_systemd_instances_are_webhook_workers_on_their_own_port(
    tmp_path: Path, local: dict[str, str]
) -> None:
    env_file = tmp_path / "boussole.env"
    env_file.write_text(
        filled_example(
            TELEGRAM_BOT_TOKEN=TOKEN,
            WEBHOOK_URL="https://bot.example.org/telegram",
            WEBHOOK_SECRET="s3cret",
            DATABASE_URL=DATABASE,
            **local,
        ),
        encoding="utf-8",
    )
    unit = (DEPLOY / "boussole@.service").read_text(encoding="utf-8")
    ports = set()
    for instance in ("8081", "8082"):
        env, command = systemd_env(unit, instance, env_file)
        assert command[-3:] == ["-m", "bot", "run"]
        settings = settings_from(env, None, tmp_path)
        assert settings.bot_mode is BotMode.webhook
        assert settings.webhook_listen == "127.0.0.1" and settings.log_format == "json"
        assert settings.token == TOKEN and settings.database_url == DATABASE
        ports.add(settings.webhook_port)
    assert ports == {8081, 8082}


def test_nginx_scrapes_metrics_and_readiness_per_worker_and_retries_posts() -> None:
    site = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    servers = re.findall(r"server (127\.0\.0\.1:\d+) ", site)
    assert len(servers) >= 2
    for server in servers:
        port = server.rsplit(":", 1)[1]
        for path in ("metrics", "readyz"):
            block = site.split(f"location = /{path}/{port} {{", 1)[1].split("}", 1)[0]
            assert f"proxy_pass http://{server}/{path};" in block and "deny all;" in block
    assert "location ~ ^/(readyz|metrics)" not in site  # never load-balanced
    telegram = site.split("location = /telegram {", 1)[1].split("\n    }", 1)[0]
    assert "non_idempotent" in telegram.split("proxy_next_upstream ", 1)[1].split(";")[0]
