"""The ``vidxai`` command line: a thin layer over the Python API.

Sub-commands live in :mod:`vidxai.commands` (one module each, discovered automatically). Errors raised
on purpose (:class:`vidxai.errors.VidxaiError`) are printed as one line and exit non-zero.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from . import __version__
from .errors import VidxaiError

EPILOG = """examples:
  vidxai demo                                  # synthetic clip + shipped model, writes ./vidxai-demo/
  vidxai explain clip.mp4 --method swagv-ig gradcam --out out/
  vidxai explain clip.mp4 --model synthetic-tiny --target 3 --format gif
  vidxai explain long.mp4 --clip all --stride 8 --html   # sliding windows; then open vidxai-out/report.html
  vidxai report out/                           # HTML page with the overlay videos, curves and predictions
  vidxai models | vidxai methods | vidxai info clip.mp4
  vidxai run configs/ci_synthetic.yaml
"""


_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}


class ArgumentParser(argparse.ArgumentParser):
    """argparse with vidxai's one-line errors (``vidxai: error: ...``, exit 2) instead of usage + message."""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        self.exit(2, f"vidxai: error: {' '.join(message.split())} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="vidxai", description="Explain video action-recognition networks.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"vidxai {__version__}")
    parser.add_argument("-q", "--quiet", dest="global_quiet", action="store_true",
                        help="no progress bars or chatter in any command (same as the command's --quiet)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from . import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    if getattr(args, "global_quiet", False):
        args.quiet = True
    try:
        return int(args.func(args) or 0)
    except VidxaiError as e:
        print(f"vidxai: error: {e}", file=sys.stderr)
        return e.exit_code
    except BrokenPipeError:  # output piped into `head` & co. that stopped reading: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:
        if e.errno not in _DISK_ERRNOS:
            raise
        # a full disk, a quota, a read-only file system: the user's environment, not a vidxai bug
        where = f"{e.filename}: " if e.filename else ""
        print(f"vidxai: error: cannot write the outputs: {where}{e.strerror or e}; free some space or choose "
              "another output folder", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vidxai: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
