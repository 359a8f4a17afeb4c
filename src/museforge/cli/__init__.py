"""The ``museforge`` command line: one sub-command group per medium, plus demo, doctor, store.

The CLI is a thin layer over the Python API. Errors a person can fix are printed as one
line, ``error: <what, which file, what to do>``, with exit code 2 and no traceback;
Ctrl-C exits with 130.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
import traceback
from collections.abc import Sequence
from typing import Annotated

import typer
from typer.main import get_command

import museforge
from museforge.cli import demo, doctor, feature_map, image, music, paint, store, story, studio
from museforge.core.progress import OFF_VARIABLE
from museforge.errors import UserError

try:  # typer vendors click; the class that means "no arguments, show the help"
    from typer._click.exceptions import NoArgsIsHelpError
except ImportError:  # pragma: no cover - a typer without the vendored click
    NoArgsIsHelpError = ()  # type: ignore[assignment,misc]

app = typer.Typer(
    name="museforge",
    help="A local-first creative-AI studio: make images, melodies, stories and robot art "
    "with machine learning, on your own machine, offline.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
_verbose = False


def _version(show: bool) -> None:
    if show:
        print(f"museforge {museforge.__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="Print only errors: no progress bars, no reports."),
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Print more: debug logs, and a traceback with every error."
        ),
    ] = False,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="No progress bars (for logs and scripts).")
    ] = False,
) -> None:
    """Options for every command; give them before the command, as in
    `museforge --quiet music sample`."""
    global _verbose
    if quiet or no_progress:
        os.environ[OFF_VARIABLE] = "1"
    if quiet:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (closed by run())
    if verbose:
        _verbose = True
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")


app.command("doctor")(doctor.doctor)
app.command("demo")(demo.demo)
app.command("studio")(studio.studio)
app.command("map")(feature_map.map_cmd)
app.add_typer(store.app, name="store")
app.add_typer(music.app, name="music")
app.add_typer(image.app, name="image")
app.add_typer(story.app, name="story")
app.add_typer(paint.app, name="paint")


# The command line being run, recorded in what it makes (a trained model's config).
invoked = "museforge"


def _fail(message: str, code: int = 2) -> int:
    line = " ".join(str(message).split())
    print(f"error: {line}", file=sys.stderr)
    return code


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on ``argv`` and return the exit code (used by ``main`` and the tests)."""
    command = get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
    global invoked, _verbose
    invoked = shlex.join(["museforge", *args])
    stdout, bars, _verbose = sys.stdout, os.environ.get(OFF_VARIABLE), False
    try:
        return _dispatch(command, args)
    finally:  # the options hold for this command only (tests run many in one process)
        if sys.stdout is not stdout:
            sys.stdout.close()
            sys.stdout = stdout
        if bars is None:
            os.environ.pop(OFF_VARIABLE, None)
        else:
            os.environ[OFF_VARIABLE] = bars


def _dispatch(command: typer.core.TyperGroup, args: list[str]) -> int:
    try:
        result = command.main(args=args, prog_name="museforge", standalone_mode=False)
    except NoArgsIsHelpError as exc:
        print(exc.format_message())
        return 0
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return 130
    except UserError as exc:
        if _verbose:
            traceback.print_exc()
        return _fail(exc.message, exc.exit_code)
    except typer.TyperException as exc:  # click's usage errors: bad option, missing argument
        return _fail(exc.format_message(), getattr(exc, "exit_code", 2))
    except Exception as exc:
        exit_code = getattr(exc, "exit_code", None)
        if isinstance(exit_code, int):  # e.g. an interrupted training run: 130
            return _fail(str(exc), exit_code)
        raise
    return result if isinstance(result, int) else 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())
