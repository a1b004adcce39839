"""The `shrinkvis` command: a thin layer over the Python API.

Each command parses its options, calls the pipeline and prints. A `UserError` becomes one line on
stderr and exit code 2; any other `ShrinkvisError` or unexpected exception one line and exit code 1;
Ctrl-C exit code 130 (SIGTERM 143). Never a traceback, unless `--debug` asks for one.
"""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from .errors import Interrupted, ShrinkvisError

app = typer.Typer(
    name="shrinkvis",
    help="Animations of partial pooling: how a mixed model shrinks per-cluster estimates.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

F = TypeVar("F", bound=Callable[..., Any])

OutOption = Annotated[Path, typer.Option("--out", help="Root folder; files go to OUT/<scenario>/.")]
FormatOption = Annotated[
    str | None, typer.Option("--format", help="Comma-separated subset of gif,mp4,png (default: all).")
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a scenario key, e.g. --set data.sd_int=1 (repeatable)."),
]


def _fail(message: str, code: int) -> typer.Exit:
    one_line = " ".join(message.split("\n"))  # a promise to scripts: one line, whatever the message
    typer.echo(f"shrinkvis: error: {one_line}", err=True)
    return typer.Exit(code)


_debug = False  # set by --debug: print tracebacks as well


@app.callback()
def _options(
    debug: Annotated[
        bool,
        typer.Option("--debug", envvar="SHRINKVIS_DEBUG", help="Print the traceback of an error as well."),
    ] = False,
) -> None:
    global _debug
    _debug = debug


def _show_traceback() -> None:
    if _debug:
        traceback.print_exc(file=sys.stderr)


def user_errors(command: F) -> F:
    """Turn every error into one line on stderr and an exit code: 2 bad input, 1 failed, 130 Ctrl-C."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ShrinkvisError as exc:
            _show_traceback()
            raise _fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt as exc:
            _show_traceback()
            code = exc.exit_code if isinstance(exc, Interrupted) else 130  # 128 + SIGINT
            raise _fail(
                "interrupted; files already written are complete, no partial file is left", code
            ) from None
        except MemoryError:
            _show_traceback()
            raise _fail("out of memory; try fewer clusters, rows, frames or pixels", 1) from None
        except Exception as exc:
            _show_traceback()
            raise _fail(f"{_unexpected(exc)} (run with --debug for the traceback)", 1) from None

    return wrapper  # type: ignore[return-value]


def _unexpected(exc: BaseException) -> str:
    first_line = next(iter(str(exc).strip().splitlines()), "")
    return (
        f"unexpected {type(exc).__name__}: {first_line}" if first_line else f"unexpected {type(exc).__name__}"
    )


def _overrides(sets: list[str] | None, formats: str | None) -> list[str]:
    overrides = list(sets or [])
    if formats:
        overrides.append(f"animation.formats={formats}")
    return overrides


@app.command()
@user_errors
def run(
    scenario: Annotated[str, typer.Argument(help="A built-in scenario name or a path to a YAML file.")],
    out: OutOption = Path("out"),
    format: FormatOption = None,
    set: SetOption = None,
) -> None:
    """Render one scenario: GIF, MP4, PNG, estimates.csv and summary.json.

    Example: shrinkvis run baseline --set data.sd_int=1 --format gif,png
    """
    from . import pipeline
    from . import scenario as scenarios

    loaded = scenarios.load(scenario, _overrides(set, format))
    result = pipeline.run(loaded, out)
    for warning in result.estimates.warnings:
        typer.echo(f"shrinkvis: warning: {warning}", err=True)
    typer.echo(
        f"{loaded.name}: wrote {', '.join(sorted(p.name for p in result.files.values()))} in {result.out_dir}"
    )


@app.command()
@user_errors
def batch(
    scenarios: Annotated[
        list[str] | None, typer.Argument(help="Scenario names or YAML paths (default: every built-in one).")
    ] = None,
    out: OutOption = Path("out"),
    format: FormatOption = None,
    set: SetOption = None,
) -> None:
    """Render several scenarios, going on past failures and listing them at the end.

    Example: shrinkvis batch baseline fewer_obs --out slides/
    """
    from rich.progress import Progress

    from . import pipeline
    from . import scenario as scenario_files

    names = list(scenarios or scenario_files.builtin_names())
    failures: list[tuple[str, str]] = []
    with Progress(transient=False) as progress:
        task = progress.add_task("rendering", total=len(names))
        for name in names:
            progress.update(task, description=f"rendering {name}")
            try:
                loaded = scenario_files.load(name, _overrides(set, format))
                result = pipeline.run(loaded, out)
                for warning in result.estimates.warnings:
                    progress.console.print(f"{name}: warning: {warning}", style="yellow", markup=False)
            except ShrinkvisError as exc:
                failures.append((name, str(exc)))
            except Exception as exc:  # one broken scenario must not stop the others
                _show_traceback()
                failures.append((name, _unexpected(exc)))
            progress.advance(task)
    done = len(names) - len(failures)
    typer.echo(f"rendered {done} of {len(names)} scenarios into {out}")
    if failures:
        for name, reason in failures:
            typer.echo(f"failed: {name}: {reason}", err=True)
        raise typer.Exit(1)


@app.command("list")
@user_errors
def list_scenarios() -> None:
    """List the built-in scenarios and their titles.

    Example: shrinkvis list
    """
    from . import scenario as scenarios

    for name in scenarios.builtin_names():
        typer.echo(f"{name:<18} {scenarios.load(name).display_title}")


@app.command()
@user_errors
def validate(
    path: Annotated[str, typer.Argument(help="A scenario YAML file (or a built-in name).")],
) -> None:
    """Check a scenario file and print its settings with all defaults filled in.

    Example: shrinkvis validate my_scenario.yaml
    """
    import yaml

    from . import scenario as scenarios

    loaded = scenarios.load(path)
    typer.echo(f"{path}: valid")
    typer.echo(yaml.safe_dump(loaded.model_dump(mode="json"), sort_keys=False).rstrip())


@app.command()
@user_errors
def schema() -> None:
    """Print the JSON Schema of scenario files, for editors that validate and complete YAML.

    Example: shrinkvis schema > scenario.schema.json
    """
    import json

    from . import scenario as scenarios

    typer.echo(json.dumps(scenarios.json_schema(), indent=2))


def _one_line_warning(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> str:
    return f"shrinkvis: warning: {' '.join(str(message).split())} ({category.__name__})\n"


def main() -> None:
    import warnings

    from .outputs import interrupts_raise

    warnings.formatwarning = _one_line_warning  # a library's warning is one line, not a source excerpt
    # SIGTERM would otherwise end the process without running cleanup, leaving temporary files
    with interrupts_raise():
        app()


if __name__ == "__main__":
    sys.exit(main())
