"""Settings as a person copies and fills them: .env.example, empty values, clear refusals."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.platform.config import BotMode, Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / ".env.example"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting in the environment, an empty working directory (no developer's .env)."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_line_of_the_example_is_a_comment_or_valid_as_is(clean_env: Path) -> None:
    shutil.copy(EXAMPLE, clean_env / ".env")
    (clean_env / "no-secrets").mkdir()
    settings = load_settings(_secrets_dir=str(clean_env / "no-secrets"))
    assert settings == Settings(_env_file=None, _secrets_dir=str(clean_env / "no-secrets"))
    assert settings.webhook_secret is None and settings.partners_file is None
    assert settings.bot_mode is BotMode.polling and settings.token is None
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            assert value == "" and name.lower() in Settings.model_fields, line


def test_the_example_with_only_the_token_set_is_a_polling_bot(clean_env: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace("TELEGRAM_BOT_TOKEN=\n", "TELEGRAM_BOT_TOKEN=123456:ABC\n")
    (clean_env / ".env").write_text(text, encoding="utf-8")
    settings = load_settings()
    assert settings.token == "123456:ABC" and settings.bot_mode is BotMode.polling
    assert settings.database_url == "sqlite+aiosqlite:///boussole.db"


@pytest.mark.parametrize(
    "secret", ["sécret²", "has space", "x" * 257, "semi;colon", "tab\there", "ünïcode"]
)
def test_a_webhook_secret_telegram_would_refuse_is_refused_without_showing_it(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", secret)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    message = str(refused.value)
    assert "WEBHOOK_SECRET" in message and "A-Z" in message
    assert secret not in message


@pytest.mark.parametrize("secret", ["a", "A-z_0-9", "x" * 256])
def test_a_webhook_secret_by_telegram_rule_is_accepted(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", secret)
    settings = load_settings()
    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == secret


def test_webhook_mode_names_what_is_missing(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOT_MODE", "webhook")
    monkeypatch.setenv("WEBHOOK_SECRET", "")  # empty: as not set
    with pytest.raises(SettingsError, match="WEBHOOK_URL et WEBHOOK_SECRET"):
        load_settings()


SECRET = "not-a-valid-secret-é-must-stay-hidden"


@pytest.mark.parametrize(
    "command", [["run"], ["chat", "--new"], ["db", "upgrade"]], ids=["run", "chat", "db"]
)
def test_commands_name_the_invalid_setting_and_never_print_its_value(
    tmp_path: Path, command: list[str]
) -> None:
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env.update(
        PYTHONPATH=str(ROOT),
        WEBHOOK_SECRET=SECRET,
        SMTP_PORT="port-99999-hidden",
        TELEGRAM_BOT_TOKEN="123:token-hidden",
    )
    done = subprocess.run(
        [sys.executable, "-m", "bot", *command],
        cwd=tmp_path,
        env=env,
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "WEBHOOK_SECRET" in done.stderr and "SMTP_PORT" in done.stderr
    for value in (SECRET, "port-99999-hidden", "token-hidden"):
        assert value not in done.stderr + done.stdout
    assert not (tmp_path / "boussole.db").exists()  # refused before touching anything


def test_cli_says_its_own_name_and_version() -> None:
    from importlib import metadata

    from bot.cli import build_parser, program_name

    assert program_name("/usr/local/bin/boussole") == "boussole"
    assert program_name("/x/bot/__main__.py") == "python -m bot"
    assert build_parser("boussole").format_help().startswith("usage: boussole ")
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == f"python -m bot {metadata.version('boussole')}"
    installed = Path(sys.executable).parent / "boussole"
    if installed.exists():  # the console script of `pip install -e .`
        done = subprocess.run([str(installed), "--help"], capture_output=True, text=True)
        assert done.stdout.startswith("usage: boussole "), done.stdout
