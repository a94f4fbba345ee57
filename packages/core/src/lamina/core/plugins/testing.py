"""Helpers for testing plugins without installing them: write a distribution's metadata to a folder.

Put the folder on `sys.path` and `importlib_metadata` finds the distribution and its entry
points exactly as if pip had installed it (plugin authors may use this in their own tests).
"""

from __future__ import annotations

import importlib
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import importlib_metadata

from lamina.core.plugins.manager import ENTRY_POINT_GROUP

__all__ = ["write_distribution", "write_distribution_from_pyproject", "project_on_path"]


def write_distribution(
    root: Path,
    name: str,
    version: str = "0.0.0",
    entry_points: Mapping[str, str] | None = None,
    files: Mapping[str, str] | None = None,
    group: str = ENTRY_POINT_GROUP,
) -> Path:
    """Write `<name>-<version>.dist-info` (METADATA, entry_points.txt) and `files` into `root`.

    `entry_points` maps entry-point name -> `module` or `module:attr` in `group`; `files`
    maps a path relative to `root` (`"my_plugin.py"`) to its text. Returns the dist-info folder.
    """
    root = Path(root)
    dist_info = root / f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}.dist-info"
    dist_info.mkdir(parents=True, exist_ok=False)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    if entry_points:
        lines = [f"[{group}]"] + [f"{key} = {value}" for key, value in entry_points.items()]
        (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for relative, text in (files or {}).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return dist_info


def _project_table(pyproject: Path) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(Path(pyproject).read_text())["project"]


def write_distribution_from_pyproject(pyproject: Path, root: Path) -> Path:
    """Write the dist-info that installing the project of `pyproject` would make (metadata only).

    The project's code is not copied: put its source folder on `sys.path` beside `root`.
    """
    project = _project_table(pyproject)
    entry_points = project.get("entry-points", {}).get(ENTRY_POINT_GROUP, {})
    return write_distribution(root, project["name"], project["version"], entry_points)


@contextmanager
def project_on_path(project_dir: Path) -> Iterator[str]:
    """Make the project in `project_dir` (a `pyproject.toml` and a `src/` layout) look installed.

    If its distribution is installed already, that installation is used as it is. Otherwise
    its `src/` and a temporary dist-info go on `sys.path` for the duration. Yields the
    distribution name.
    """
    project_dir = Path(project_dir)
    name = _project_table(project_dir / "pyproject.toml")["name"]
    try:
        importlib_metadata.distribution(name)
        installed = True
    except importlib_metadata.PackageNotFoundError:
        installed = False
    if installed:
        yield name
        return
    with tempfile.TemporaryDirectory(prefix="lamina-dist-") as tmp:
        write_distribution_from_pyproject(project_dir / "pyproject.toml", Path(tmp))
        added = [str(project_dir / "src"), tmp]
        sys.path[:0] = added
        importlib.invalidate_caches()
        try:
            yield name
        finally:
            for entry in added:
                sys.path.remove(entry)
            importlib.invalidate_caches()
