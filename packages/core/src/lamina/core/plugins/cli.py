"""The `lamina` command line: `lamina plugins [--json]` lists the installed plugins."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import warnings
from collections.abc import Sequence
from typing import TextIO

from lamina.core import __version__
from lamina.core.plugins.manager import (
    AUTOLOAD_ENV,
    ENTRY_POINT_GROUP,
    PluginInfo,
    PluginLoadWarning,
    autoload_enabled,
    plugin_info,
)

__all__ = ["main", "build_parser"]

_WIDTH = 100


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `lamina` command."""
    parser = argparse.ArgumentParser(prog="lamina", description="Lamina: a layered deep-learning library.")
    parser.add_argument("--version", action="version", version=f"lamina-core {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    plugins = commands.add_parser(
        "plugins",
        help="list the installed plugins, their versions and what each registered",
        description=f"List the plugins found in the {ENTRY_POINT_GROUP!r} entry-point group, "
        "with their versions and what each registered; failed plugins are shown with their error.",
    )
    plugins.add_argument("--json", action="store_true", help="print the list as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `lamina` command with `argv` (default: the process arguments); return the exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "plugins":
        return _plugins(as_json=args.json, out=sys.stdout)
    raise AssertionError(f"unhandled command {args.command!r}")  # argparse only accepts the commands above


def _plugins(as_json: bool, out: TextIO) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginLoadWarning)  # failures are part of the listing below
        infos = plugin_info()
    autoload = autoload_enabled()
    if as_json:
        report = {
            "lamina_core": __version__,
            "entry_point_group": ENTRY_POINT_GROUP,
            "autoload": autoload,
            "plugins": [info.to_dict() for info in infos],
        }
        json.dump(report, out, indent=2)
        out.write("\n")
        return 0
    out.write(f"lamina-core {__version__}: plugins from entry-point group {ENTRY_POINT_GROUP!r}\n")
    if not autoload:
        out.write(f"Plugin autoload is disabled ({AUTOLOAD_ENV} is set): no entry points were loaded.\n")
    for info in infos:
        out.write(_describe(info))
    failed = sum(info.status != "loaded" for info in infos)
    out.write(f"{len(infos)} plugin(s): {len(infos) - failed} loaded, {failed} failed\n")
    return 0


def _describe(info: PluginInfo) -> str:
    source = f"{info.distribution} {info.version}" if info.distribution else "registered in process"
    status = "" if info.status == "loaded" else f"  {info.status.upper()}"
    lines = [f"{info.name}  [{source}]  {info.module}{status}"]
    if info.error:
        lines.append(
            textwrap.fill(f"error: {info.error}", _WIDTH, initial_indent="    ", subsequent_indent="      ")
        )
    for registry_name, keys in sorted(info.registered.items()):
        text = f"{registry_name}: {', '.join(keys)}"
        lines.append(textwrap.fill(text, _WIDTH, initial_indent="    ", subsequent_indent="      "))
    if info.status == "loaded" and not info.registered:
        lines.append("    (registered nothing)")
    return "\n".join(lines) + "\n"
