"""The deployment files: what can be checked on this machine is checked for real."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

from tests.conftest import require_or_skip

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


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
    assert upgraded.returncode == 0 and "migration 0006" in upgraded.stdout, upgraded.stderr
    assert '"departement"' in run("-m", "bot", "where", "62000").stdout


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
