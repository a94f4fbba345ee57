"""Nox sessions: one per package against the kernel, plus all, demo, bench and lint.

torch is large, so it is installed once into a shared environment (`.nox/_shared_torch`) and each
session sees it through a `.pth` file instead of reinstalling it. Set `LAMINA_TORCH` to choose the
torch requirement used there (default `torch==2.13.0`, the CPU build these machines carry).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
TORCH = os.environ.get("LAMINA_TORCH", "torch==2.13.0")
SHARED_ENV = ROOT / ".nox" / "_shared_torch"
DOMAINS = ("vision", "text", "tabular", "collab")
# What each package needs installed beside it (collab builds on tabular).
NEEDS = {"core": [], "vision": [], "text": [], "tabular": [], "collab": ["tabular"]}

nox.options.sessions = ["lint", "core", *DOMAINS, "all"]
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True


def _bin(env: Path, name: str) -> Path:
    return env / ("Scripts" if os.name == "nt" else "bin") / name


def _purelib(python: str | Path) -> str:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return subprocess.check_output([str(python), "-c", code], text=True).strip()


def _shared_torch_site(session: nox.Session) -> str:
    """Create (once) the environment holding torch and return its site-packages folder."""
    marker = SHARED_ENV / "lamina-torch.txt"
    if not (marker.exists() and marker.read_text() == TORCH):
        session.log(f"installing {TORCH} once into {SHARED_ENV}")
        session.run(sys.executable, "-m", "venv", "--clear", str(SHARED_ENV), external=True)
        python = str(_bin(SHARED_ENV, "python"))
        session.run(python, "-m", "pip", "install", "-q", TORCH, "numpy", external=True)
        marker.write_text(TORCH)
    return _purelib(_bin(SHARED_ENV, "python"))


def _use_shared_torch(session: nox.Session) -> None:
    site = _shared_torch_site(session)
    purelib = session.run("python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                          silent=True).strip()
    Path(purelib, "_lamina_shared_torch.pth").write_text(site + "\n")


def _install(session: nox.Session, *names: str, extras: str = "test") -> None:
    """Install the kernel and the named packages (with their needs) from this checkout."""
    _use_shared_torch(session)
    wanted = ["core"]
    for name in names:
        wanted += [*NEEDS[name], name]
    specs = [f"./packages/{n}[{extras}]" if extras else f"./packages/{n}" for n in dict.fromkeys(wanted)]
    session.install(*specs)


def _assert_not_importable(session: nox.Session, domains: tuple[str, ...] | list[str]) -> None:
    """Each package must work with the kernel alone: the named domains are not importable here."""
    code = (
        "import importlib.util as u, sys; "
        f"found = [d for d in {list(domains)!r} if u.find_spec('lamina.' + d)]; "
        "sys.exit(f'unexpected domain packages installed: {found}' if found else 0)"
    )
    session.run("python", "-c", code)


def _pytest(session: nox.Session, *paths: str) -> None:
    session.run("python", "-m", "pytest", *paths, *session.posargs)


@nox.session
def core(session: nox.Session) -> None:
    """The kernel alone: no domain package installed."""
    _install(session)
    _assert_not_importable(session, DOMAINS)
    _pytest(session, "packages/core/tests")


def _domain_session(name: str):
    def run(session: nox.Session) -> None:
        _install(session, name)
        others = [d for d in DOMAINS if d != name and d not in NEEDS[name]]
        _assert_not_importable(session, others)
        _pytest(session, f"packages/{name}/tests")

    run.__doc__ = f"lamina-{name} against the kernel, with no other domain installed."
    run.__name__ = name
    return nox.session(name=name)(run)


for _name in DOMAINS:
    globals()[_name] = _domain_session(_name)


@nox.session(name="all")
def all_packages(session: nox.Session) -> None:
    """Every package and the sample third-party plugin together: the cross-package tests."""
    _install(session, *DOMAINS)
    session.install("./examples/third_party_plugin")
    _pytest(session, "tests")


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: the demo on data the packages ship (writes pictures to ./demo_output)."""
    _install(session, *DOMAINS, extras="")
    session.run("python", "examples/demo.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Speed suites against plain-PyTorch baselines (`nox -s bench -- --quick` for a short run)."""
    _install(session, *DOMAINS)
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        session.run("python", str(script.relative_to(ROOT)), *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the whole code base."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
