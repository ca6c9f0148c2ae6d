"""The `curate` command line: a thin typer app. Each verb lives in `curate/commands/<area>.py`
and only parses arguments, calls a library function and prints the result."""

from __future__ import annotations

import errno
import importlib
import os
import sys

import typer

from curate.errors import CurateError
from curate.redact import scrub

app = typer.Typer(
    name="curate",
    help="Generate, verify, curate, catalog, train on and probe long chain-of-thought traces.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@app.callback()
def _root(
    home: str = typer.Option(
        None, "--home", envvar="CURATE_HOME",
        help="Workspace folder holding catalog.duckdb and the dataset store (default ./.curate).",
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v",
        help="Show the libraries' own progress bars, warnings and logs (quiet by default); "
             "may also follow the verb.",
    ),
) -> None:
    """curate: the data side of reasoning post-training."""
    if home:
        os.environ["CURATE_HOME"] = home
    from curate.console import quiet_third_party

    quiet_third_party(verbose or os.environ.get("CURATE_VERBOSE") == "1")


# Each module in curate/commands registers its verbs on `app` through `register(app)`.
# Modules are listed here so an import error in one area names that area.
COMMAND_MODULES = [
    "catalog",
    "countdown",
    "generate",
    "verify",
    "curation",
    "recipes",
    "coverage",
    "training",
    "evaluation",
    "probes",
    "report",
    "publish",
]

for _mod in COMMAND_MODULES:
    try:
        _m = importlib.import_module(f"curate.commands.{_mod}")
    except ModuleNotFoundError as e:  # an area not built yet
        if e.name != f"curate.commands.{_mod}":
            raise
        continue
    _m.register(app)


def _lift_verbose(argv: list[str]) -> list[str]:
    """`-v` / `--verbose` anywhere before `--` (also after the verb) -> CURATE_VERBOSE=1."""
    end = argv.index("--") if "--" in argv else len(argv)
    flags = {"-v", "--verbose"}
    if any(a in flags for a in argv[:end]):
        os.environ["CURATE_VERBOSE"] = "1"
        return [a for a in argv[:end] if a not in flags] + argv[end:]
    return argv


# errors the system gives for where curate was asked to read or write, not for a bug
ENVIRONMENT_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT,
                      errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP,
                      errno.EMFILE, errno.ENFILE}


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2."""
    sys.argv[1:] = _lift_verbose(sys.argv[1:])
    try:
        app()
    except CurateError as e:
        typer.secho(f"error: {scrub(str(e))}", err=True, fg="red")
        sys.exit(2)
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        sys.exit(130)
    except OSError as e:
        if e.errno not in ENVIRONMENT_ERRNOS:
            _bug()
        # the machine said no (permission, read-only, disk full, not a folder): one line
        where = f"{e.filename}: " if e.filename else ""
        typer.secho(f"error: {scrub(where + (e.strerror or str(e)))}", err=True, fg="red")
        sys.exit(2)
    except Exception:  # a bug: the traceback is for us, without any secret in it
        _bug()


def _bug() -> None:
    import traceback

    sys.stderr.write(scrub(traceback.format_exc()))
    sys.exit(1)


if __name__ == "__main__":
    main()
