"""`lamina plugins`: through `main()` and through the installed console script."""

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lamina.core import __version__
from lamina.core.plugins import AUTOLOAD_ENV, reset_plugins
from lamina.core.plugins.cli import main
from lamina.core.plugins.testing import write_distribution

GOOD = """
from lamina.core.plugins import DatasetSpec, hookimpl

@hookimpl
def lamina_blocks():
    return {"CliBlock": dict, "OtherCliBlock": list}

@hookimpl
def lamina_datasets():
    return [DatasetSpec("CLI_DATA", "https://example.org/cli.tgz")]
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    """Two installed plugins, one good and one that fails to import."""
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    root = tmp_path / "site"
    write_distribution(root, "cli-good", "4.5.6", {"cligood": "cli_good_mod"}, {"cli_good_mod.py": GOOD})
    write_distribution(
        root, "cli-broken", "0.1", {"clibroken": "cli_broken_mod"}, {"cli_broken_mod.py": "1/0\n"}
    )
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    reset_plugins()
    yield root
    reset_plugins()
    for name in ("cli_good_mod", "cli_broken_mod"):
        sys.modules.pop(name, None)


def test_plugins_lists_versions_registrations_and_failures(site, capsys):
    assert main(["plugins"]) == 0
    out, err = capsys.readouterr()
    assert f"lamina-core {__version__}" in out
    assert "cligood  [cli-good 4.5.6]  cli_good_mod\n" in out
    assert "    blocks: CliBlock, OtherCliBlock\n" in out and "    datasets: CLI_DATA\n" in out
    assert "clibroken  [cli-broken 0.1]  cli_broken_mod  FAILED\n" in out
    assert "    error: ZeroDivisionError: division by zero\n" in out
    assert "loaded, 1 failed" in out
    assert "PluginLoadWarning" not in err  # the failure is in the listing, not repeated as a warning


def test_plugins_json(site, capsys):
    assert main(["plugins", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["lamina_core"] == __version__ and report["autoload"] is True
    plugins = {p["name"]: p for p in report["plugins"]}
    assert plugins["cligood"] == {
        "name": "cligood",
        "module": "cli_good_mod",
        "distribution": "cli-good",
        "version": "4.5.6",
        "status": "loaded",
        "error": None,
        "registered": {"blocks": ["CliBlock", "OtherCliBlock"], "datasets": ["CLI_DATA"]},
    }
    assert plugins["clibroken"]["status"] == "failed"
    assert plugins["clibroken"]["error"] == "ZeroDivisionError: division by zero"


def test_plugins_with_autoload_disabled_says_so(site, capsys, monkeypatch):
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "autoload is disabled" in out and "cligood" not in out and "0 plugin(s)" in out


def test_help_and_usage_errors(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "plugins" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["plugin"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'plugin'" in capsys.readouterr().err


def test_the_installed_console_script(site):
    script = Path(sys.executable).parent / ("lamina.exe" if os.name == "nt" else "lamina")
    if not script.exists():
        pytest.fail(
            f"the `lamina` console script is missing beside {sys.executable}: is lamina-core installed?"
        )
    env = {k: v for k, v in os.environ.items() if k != AUTOLOAD_ENV}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [str(script), "plugins", "--json"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    plugins = {p["name"]: p for p in json.loads(done.stdout)["plugins"]}
    assert plugins["cligood"]["version"] == "4.5.6"
    assert plugins["clibroken"]["status"] == "failed"
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0 and "plugins" in done.stdout
    text = subprocess.run([str(script), "plugins"], capture_output=True, text=True, env=env, timeout=60)
    assert text.returncode == 0
    assert "clibroken  [cli-broken 0.1]  cli_broken_mod  FAILED" in text.stdout
