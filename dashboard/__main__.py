"""Command line: ``python -m dashboard COMMAND ...``.

Each command lives in dashboard/commands/<name>.py with ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``; modules are imported when
listed; a command imports its heavy dependencies inside run(), so one command's
dependencies never slow down the others.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import dashboard.commands as commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboard",
                                     description="乡镇基层治理数据看板 command line")
    sub = parser.add_subparsers(dest="command", required=True)
    names = sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_"))
    for name in names:
        mod = importlib.import_module(f"dashboard.commands.{name}")
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    args = parser.parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
