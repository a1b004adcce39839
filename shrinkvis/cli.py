"""The `shrinkvis` command: a thin layer over the Python API.

Each command parses its options, calls the pipeline and prints. A `UserError` becomes one line on
stderr and exit code 2; any other `ShrinkvisError` or unexpected exception one line and exit code 1;
Ctrl-C exit code 130 (SIGTERM 143). Never a traceback, unless `--debug` asks for one. `fit` and `run`
with the Bayesian engine exit with code 3 when they wrote their results but the posterior failed brms's
convergence diagnostics (`converged: false`; the warning says why).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

try:  # typer ≥ 0.20 carries its own copy of click
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover — older typer on click
    from click.exceptions import UsageError  # type: ignore[no-redef]

from .errors import Interrupted, ShrinkvisError, unexpected

# How a process ends when the reader of its output went away (`shrinkvis list | head -1`): as if by
# SIGPIPE, the shell's 128 + 13, and without a word, like any Unix tool.
BROKEN_PIPE_EXIT = 141
#: `fit` / `run` finished and wrote everything, but the Bayesian posterior did not converge
NOT_CONVERGED_EXIT = 3
UNLIMITED_WIDTH = 100_000  # columns of `explain` written to a pipe or file: wider than any table it prints


@contextlib.contextmanager
def _usage_errors_in_one_line() -> Iterator[None]:
    try:
        yield
    except UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `shrinkvis` alone: the help is the answer
            raise
        command = exc.ctx.command_path if exc.ctx is not None else "shrinkvis"
        message = exc.format_message().strip().rstrip(".")
        instead = _set_instead(exc)
        if instead:
            message = f"No such option: {exc.option_name}; did you mean {instead}?"  # type: ignore[attr-defined]
        raise _fail(f"{message} (see {command} --help)", exc.exit_code) from None


_arguments: list[str] = []  # the command line being parsed, for the value of an unknown option


def _set_instead(exc: UsageError) -> str | None:
    """`run baseline --frames 60` → `--set animation.frames=60`: a scenario key given as an option."""
    option = getattr(exc, "option_name", None)
    command = exc.ctx.command if exc.ctx is not None else None
    if not option or command is None or "set" not in {param.name for param in command.params}:
        return None
    from .scenario import nearest_key, setting_keys

    name, _, value = option.lstrip("-").partition("=")
    key = nearest_key(name, setting_keys())
    if key is None or _likeness(name, key.rsplit(".", 1)[-1]) <= max(
        (_likeness(name, other.lstrip("-")) for other in getattr(exc, "possibilities", None) or ()), default=0
    ):
        return None  # nearer to a real option (`--formt`: --format) than to a key: click's hint stands
    given = [arg.partition("=")[2] for arg in _arguments if arg.startswith(f"{option}=")]  # --frames=60
    if not value and given:
        value = given[0]
    elif not value and option in _arguments:  # --frames 60
        following = _arguments[_arguments.index(option) + 1 : _arguments.index(option) + 2]
        value = following[0] if following and not following[0].startswith("-") else ""
    return f"--set {key}={value or 'VALUE'}"


def _likeness(word: str, other: str) -> float:
    import difflib

    return difflib.SequenceMatcher(None, word.lower().replace("-", "_"), other.replace("-", "_")).ratio()


class _OneLineUsageErrors(TyperGroup):
    """Click reports a wrong option in three lines (usage, a hint, the error); shrinkvis promises one."""

    def main(self, args: Any = None, *more: Any, **options: Any) -> Any:
        _arguments[:] = list(sys.argv[1:] if args is None else args)
        return super().main(args, *more, **options)

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with _usage_errors_in_one_line():
            return super().make_context(*args, **kwargs)

    def get_command(self, ctx: Any, name: str) -> Any:
        command = super().get_command(ctx, name)
        for param in getattr(command, "params", ()):
            if param.param_type_name == "argument" and param.metavar:
                # the help's argument column shows the metavar alone, not typer's `<list[str]>` beside it
                param.display_type_rich = lambda ctx: ""
        return command

    def invoke(self, ctx: Any) -> Any:  # a subcommand's options are parsed in here
        with _usage_errors_in_one_line():
            return super().invoke(ctx)


app = typer.Typer(
    cls=_OneLineUsageErrors,
    name="shrinkvis",
    help="Animations of partial pooling: how a mixed model shrinks per-cluster estimates.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},  # every command, as click's habit is
)

F = TypeVar("F", bound=Callable[..., Any])

OutOption = Annotated[
    Path, typer.Option("--out", metavar="DIR", help="Root folder; files go to OUT/<scenario>/.")
]
FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        metavar="gif,mp4,png,svg",
        help="Comma-separated subset of gif,mp4,png,svg (default: all).",
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set", metavar="KEY=VALUE", help="Override a scenario key, e.g. --set data.sd_int=1 (repeatable)."
    ),
]


# a table of your own instead of a scenario (run, explain)
DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        metavar="FILE",
        help="CSV, TSV or Parquet: a file, a glob ('events/*.parquet') or a directory.",
    ),
]
YOption = Annotated[
    str | None, typer.Option("--y", metavar="COLUMN", help="With --data: column of the outcome.")
]
GroupOption = Annotated[
    str | None,
    typer.Option(
        "--group", metavar="COLUMN", help="With --data: column of the cluster labels (text or numbers)."
    ),
]
XOption = Annotated[
    str | None,
    typer.Option(
        "--x", metavar="COLUMN", help="With --data: column of the predictor (omit for y ~ 1 + (1 | group))."
    ),
]
RandomOption = Annotated[
    str | None,
    typer.Option(
        "--random",
        metavar="slope|intercept",
        help="With --data: slope, (x | group), or intercept, (1 | group).",
    ),
]
FormulaOption = Annotated[
    str | None,
    typer.Option(
        "--formula",
        metavar="FORMULA",
        help="With --data, instead of the columns: e.g. 'Reaction ~ Days + (Days | Subject)'.",
    ),
]
# binomial, Poisson and known-SE models (issue 27; shrinkvis.rates)
FamilyOption = Annotated[
    str | None,
    typer.Option(
        "--family",
        metavar="gaussian|binomial|poisson",
        help="gaussian (default), binomial or poisson (same as --set model.family=...).",
    ),
]
TrialsOption = Annotated[
    str | None,
    typer.Option(
        "--trials", metavar="COLUMN", help="With --data and --family binomial: column of the trials."
    ),
]
ExposureOption = Annotated[
    str | None,
    typer.Option(
        "--exposure",
        metavar="COLUMN",
        help="With --data and --family poisson: column of the exposure, offset(log(exposure)).",
    ),
]
EstimateOption = Annotated[
    str | None,
    typer.Option(
        "--estimate", metavar="COLUMN", help="With --data and --se: column of the published estimates."
    ),
]
SeOption = Annotated[
    str | None,
    typer.Option(
        "--se", metavar="COLUMN", help="With --data: column of known standard errors (a meta-analysis)."
    ),
]
TitleOption = Annotated[
    str | None, typer.Option("--title", metavar="TEXT", help="With --data: title (default: the file name).")
]
EngineOption = Annotated[
    str | None,
    typer.Option(
        "--engine",
        metavar="exact|statsmodels|bayes",
        help="exact, statsmodels or bayes (same as --set model.engine=...).",
    ),
]
ViewOption = Annotated[
    str | None,
    typer.Option(
        "--view",
        metavar="VIEW",
        help="shrinkage (default), stages, lines, funnel or caterpillar; names the output files.",
    ),
]
PresetOption = Annotated[
    str | None,
    typer.Option(
        "--preset",
        metavar="small|slide|square",
        help="small 600×450 (default), slide 1280×720 or square 800×800.",
    ),
]
ThemeOption = Annotated[
    str | None, typer.Option("--theme", metavar="light|dark", help="light (default) or dark.")
]


def _look_overrides(view: str | None, preset: str | None, theme: str | None) -> list[Any]:
    """--view/--preset/--theme are shorthands for --set animation.view=… (and so on)."""
    from .scenario import Override

    given = {"view": view, "preset": preset, "theme": theme}
    return [
        Override(f"animation.{key}={value}", f"--{key} {value}")
        for key, value in given.items()
        if value is not None
    ]


def _fail(message: str, code: int) -> typer.Exit:
    one_line = " ".join(message.split("\n"))  # a promise to scripts: one line, whatever the message
    typer.echo(f"shrinkvis: error: {one_line}", err=True)
    return typer.Exit(code)


_debug = False  # set by --debug: print tracebacks as well


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("shrinkvis")
        except PackageNotFoundError:  # run from a source tree that was never installed
            installed = "unknown (not installed)"
        typer.echo(f"shrinkvis {installed}")
        raise typer.Exit(0)


@app.callback()
def _options(
    debug: Annotated[
        bool,
        typer.Option("--debug", envvar="SHRINKVIS_DEBUG", help="Print the traceback of an error as well."),
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    global _debug
    _debug = debug


def _show_traceback() -> None:
    if _debug:
        traceback.print_exc(file=sys.stderr)
        drawn = getattr(sys.exc_info()[1], "drawing_traceback", None)  # raised in the drawing process
        if drawn:
            print(f"In the drawing process:\n{drawn}", end="", file=sys.stderr)


def user_errors(command: F) -> F:
    """Turn every error into one line on stderr and an exit code: 2 bad input, 1 failed, 130 Ctrl-C.

    A terminating signal raises only while the command runs (before and after, `exit_interrupted`
    ends the process at once), and wins over whatever else happened: an interrupt that a library
    swallowed or turned into another error still ends the command as interrupted."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .outputs import INTERRUPTED, interrupted_code, interruptible, received_signal

        try:
            with interruptible():
                result = command(*args, **kwargs)
            if received_signal() is None:
                return result
            raise _fail(INTERRUPTED, interrupted_code(received_signal() or 0))
        except typer.Exit:  # the command chose its exit code
            raise
        except BaseException as exc:
            if isinstance(exc, OSError) and exc.errno == errno.EPIPE and _stdout_is_gone():
                raise typer.Exit(BROKEN_PIPE_EXIT) from None  # the reader left; nobody to tell
            _show_traceback()
            if received_signal() is not None or isinstance(exc, KeyboardInterrupt):
                signum = received_signal() or (exc.signum if isinstance(exc, Interrupted) else 2)
                raise _fail(INTERRUPTED, interrupted_code(signum)) from None
            if isinstance(exc, ShrinkvisError):
                raise _fail(str(exc), exc.exit_code) from None
            if isinstance(exc, MemoryError):
                raise _fail("out of memory; try fewer clusters, rows, frames or pixels", 1) from None
            if isinstance(exc, Exception):
                raise _fail(f"{unexpected(exc)} (run with --debug for the traceback)", 1) from None
            raise

    return wrapper  # type: ignore[return-value]


def _stdout_is_gone() -> bool:
    """Whether the reader of this process's stdout has closed its end (a pipe or socket)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), no file descriptor (tests)
        return False


def _overrides(sets: list[str] | None, formats: str | None, engine: str | None = None) -> list[Any]:
    """--set KEY=VALUE and --format as overrides that name their option when their value is refused."""
    from .scenario import Override

    overrides: list[Any] = list(sets or [])
    if formats:
        overrides.append(Override(f"animation.formats={formats}", f"--format {formats}"))
    if engine:
        overrides.append(Override(f"model.engine={engine}", f"--engine {engine}"))
    return overrides


def _scenario_or_data(
    scenario: str | None, overrides: list[Any], data: Path | None, **columns: str | None
) -> Any:
    """The scenario a command works on: a name or YAML file, or a table given with --data."""
    from . import scenario as scenarios
    from .errors import UserError

    given = [f"--{name}" for name, value in columns.items() if value is not None]
    family = columns.get("family")
    if data is None and family is not None and not [name for name in given if name != "--family"]:
        # --family on a scenario is a shorthand for --set model.family=...
        from .scenario import Override

        overrides = [*overrides, Override(f"model.family={family}", f"--family {family}")]
        given = []
        columns = {name: value for name, value in columns.items() if name != "family"}
    if data is None:
        if scenario is None:
            raise UserError(
                "give a scenario (a built-in name or a YAML file) or --data FILE with its columns"
            )
        if given:
            raise UserError(f"{', '.join(given)}: only with --data FILE, not with a scenario")
        return scenarios.load(scenario, overrides)
    if scenario is not None:
        raise UserError(f"give either the scenario {scenario!r} or --data {data}, not both")
    return scenarios.for_data(data, overrides=overrides, **columns)


@contextlib.contextmanager
def _drawing_process() -> Any:
    """A drawing process beside this one where a fork is safe (see `shrinkvis.drawing`), else None."""
    import gc

    from . import drawing

    if not drawing.can_fork():
        yield None
        return
    # garbage of an earlier run in this process (a notebook, the tests) is freed here, where its threads
    # exist: freed in the child, an MP4 encoder's context waits forever for its slice threads
    gc.collect()
    with drawing.DrawingProcess() as process:
        yield process


@app.command()
@user_errors
def run(
    scenario: Annotated[
        str | None,
        typer.Argument(
            metavar="SCENARIO", help="A built-in scenario name or a path to a YAML file (or use --data)."
        ),
    ] = None,
    out: OutOption = Path("out"),
    format: FormatOption = None,
    set: SetOption = None,
    data: DataOption = None,
    y: YOption = None,
    group: GroupOption = None,
    x: XOption = None,
    random: RandomOption = None,
    formula: FormulaOption = None,
    title: TitleOption = None,
    view: ViewOption = None,
    preset: PresetOption = None,
    theme: ThemeOption = None,
    engine: EngineOption = None,
    family: FamilyOption = None,
    trials: TrialsOption = None,
    exposure: ExposureOption = None,
    estimate: EstimateOption = None,
    se: SeOption = None,
) -> None:
    """Render one scenario, or your own data: GIF, MP4, PNG stills, SVG, estimates.csv, summary.json and
    report.md.

    Example: shrinkvis run baseline --view stages --preset slide --set data.sd_int=1

    Example: shrinkvis run --data examples/sleepstudy.csv --formula "Reaction ~ Days + (Days | Subject)"

    Example: shrinkvis run --data examples/surgical.csv --formula "cbind(deaths, operations - deaths) ~ 1 + (1 | hospital)"
    """
    from .errors import UserError

    if estimate is not None and y is not None:
        raise UserError("--estimate and --y both name the outcome; give one")
    y = estimate if estimate is not None else y
    rate_options = {"family": family, "trials": trials, "exposure": exposure, "se": se}
    # the scenario and the options are checked first (pydantic and YAML only): bad input is reported
    # before a process is forked or anything heavy is loaded
    loaded = _scenario_or_data(
        scenario,
        [*_look_overrides(view, preset, theme), *_overrides(set, format, engine)],
        data,
        y=y,
        group=group,
        x=x,
        random=random,
        formula=formula,
        title=title,
        **rate_options,
    )
    with _drawing_process() as drawing:  # it loads matplotlib while this process loads pandas and fits
        from . import pipeline, progress

        with progress.stages() as stage, _writing("--out", "folder"):
            result = pipeline.run(loaded, out, drawing=drawing, stage=stage)
    for warning in result.estimates.warnings:
        typer.echo(f"shrinkvis: warning: {warning}", err=True)
    typer.echo(
        f"{loaded.name}: wrote {', '.join(sorted(p.name for p in result.files.values()))} in {result.out_dir}"
    )
    _exit_if_not_converged(result.estimates)


def _exit_if_not_converged(estimates: Any) -> None:
    """Exit code 3 for a Bayesian fit whose chains fail the diagnostics: a script that reads only the exit
    status must not take its numbers for converged ones."""
    if estimates.bayes is not None and not estimates.bayes.converged:
        raise typer.Exit(NOT_CONVERGED_EXIT)


@app.command()
@user_errors
def batch(
    scenarios: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="SCENARIO", help="Scenario names or YAML paths (default: every built-in one)."
        ),
    ] = None,
    out: OutOption = Path("out"),
    format: FormatOption = None,
    set: SetOption = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            metavar="N",
            min=1,
            help="Scenarios rendered at once, each in its own process (default: the number of cores).",
        ),
    ] = None,
    shared_axes: Annotated[
        bool,
        typer.Option(
            "--shared-axes",
            help="Also draw every scenario on the batch's common axes, into <scenario>/shared-axes/ "
            "(its own pictures stay as `run` draws them).",
        ),
    ] = False,
) -> None:
    """Render several scenarios in parallel, going on past failures and listing them at the end.

    Example: shrinkvis batch baseline fewer_obs --out slides/ --jobs 2
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from . import batch as batches
    from . import scenario as scenario_files

    names = list(scenarios or scenario_files.builtin_names())
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # the progress and the warnings go to stderr, beside the other commands' warnings; stdout says what
    # was written. A warning is one line however narrow the terminal (soft wrap: the terminal folds it)
    # (the bar only on a terminal: in a log or a pipe it would be one more line that says nothing)
    messages = Console(stderr=True, soft_wrap=True)
    with Progress(*columns, transient=False, console=messages, disable=not messages.is_terminal) as progress:
        task = progress.add_task(f"rendering {len(names)} scenarios", total=len(names))

        def done(outcome: batches.Outcome) -> None:
            for warning in outcome.warnings:
                progress.console.print(
                    f"shrinkvis: warning: {outcome.name}: {warning}", style="yellow", markup=False
                )
            progress.advance(task)
            progress.update(task, description=f"{'failed' if outcome.failed else 'rendered'} {outcome.name}")

        outcomes = batches.run_all(
            names, out, _overrides(set, format), jobs, on_done=done, shared_axes=shared_axes
        )
    failures = [(outcome.name, outcome.error or "") for outcome in outcomes if outcome.failed]
    typer.echo(f"rendered {len(names) - len(failures)} of {len(names)} scenarios into {out}")
    _write_gallery(out, failures)
    if failures:
        for name, reason in failures:
            typer.echo(f"failed: {name}: {_without_name(reason, name)}", err=True)
        raise typer.Exit(1)


def _without_name(reason: str, name: str) -> str:
    """A reason that starts with the scenario's name already (`broken.yaml: line 2: …`) need not say it twice."""
    return reason.removeprefix(f"{name}: ")


@app.command("fit")
@user_errors
def fit_command(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            metavar="FILE",
            help="CSV, TSV or Parquet, one row per observation: a file, a glob or a directory.",
        ),
    ],
    y: Annotated[str | None, typer.Option("--y", metavar="COLUMN", help="Column of the outcome.")] = None,
    group: Annotated[
        str | None,
        typer.Option("--group", metavar="COLUMN", help="Column of the cluster labels (text or numbers)."),
    ] = None,
    x: Annotated[
        str | None,
        typer.Option("--x", metavar="COLUMN", help="Column of the predictor (omit for y ~ 1 + (1 | group))."),
    ] = None,
    random: Annotated[
        str | None,
        typer.Option(
            "--random",
            metavar="slope|intercept",
            help="With --x: slope, (x | group) (default), or intercept, (1 | group).",
        ),
    ] = None,
    formula: FormulaOption = None,
    method: Annotated[
        str | None,
        typer.Option(
            "--method", metavar="REML|ML", help="REML (default) or ML; binomial and Poisson: ML, as glmer."
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine", metavar="exact|statsmodels|bayes", help="exact (default), statsmodels or bayes."
        ),
    ] = "exact",
    family: FamilyOption = None,
    trials: TrialsOption = None,
    exposure: ExposureOption = None,
    estimate: EstimateOption = None,
    se: SeOption = None,
    nagq: Annotated[
        int | None,
        typer.Option(
            "--nagq",
            metavar="N",
            help="Binomial and Poisson: glmer's nAGQ, 1 (Laplace, default) to 25 nodes per cluster.",
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")] = False,
    estimates_file: Annotated[
        Path | None,
        typer.Option(
            "--estimates",
            metavar="FILE.csv",
            help="Write the per-cluster table to this CSV (a regular file or a new path; - for stdout, "
            "the summary then goes to stderr).",
        ),
    ] = None,
) -> None:
    """Fit a mixed model to your own data and print an lme4-like summary.

    Example: shrinkvis fit --data examples/sleepstudy.csv --y Reaction --x Days --group Subject

    Example: shrinkvis fit --data examples/sleepstudy.csv --formula "Reaction ~ Days + (Days | Subject)" --json

    Example: shrinkvis fit --data examples/surgical.csv --formula "cbind(deaths, operations - deaths) ~ 1 + (1 | hospital)"
    """
    import json
    import time

    from . import progress, report
    from .errors import UserError
    from .formula import is_two_effect
    from .outputs import write_csv
    from .pipeline import fit_formula, fit_model, read_data, reading_stage
    from .rates.formula import parse as parse_rates
    from .rates.spec import is_rates
    from .scenario import DataFileSpec, Override, for_data

    if estimate is not None and y is not None:
        raise UserError("--estimate and --y both name the outcome; give one")
    started = time.perf_counter()
    rate_options = (family, trials, exposure, estimate, se)
    general = (
        formula is not None
        and parse_rates(formula) is None  # cbind(), offset(), se(): the rates path below
        and not is_two_effect(formula)
        and not any((y, x, group, random, *rate_options))
    )
    if general:
        assert formula is not None
        if nagq is not None:
            raise UserError(
                "--nagq is for binomial and Poisson models (--family, or cbind()/offset() in --formula)"
            )
        model = fit_formula(data, formula, method or "REML", engine)
        if estimates_file is not None:
            write_csv(estimates_file, model.clusters)
        for warning in model.warnings:
            typer.echo(f"shrinkvis: warning: {warning}", err=True)
        seconds = time.perf_counter() - started
        summary = report.model_json(model, seconds) if json_output else None
        typer.echo(json.dumps(summary) if summary is not None else report.model_summary(model, str(data)))
        if not model.converged and model.posterior is not None:
            raise typer.Exit(NOT_CONVERGED_EXIT)
        return
    overrides = [Override(f"model.engine={engine}", f"--engine {engine}")]
    if method is not None:
        overrides.append(Override(f"model.method={method}", f"--method {method}"))
    if nagq is not None:
        overrides.append(Override(f"model.nagq={nagq}", f"--nagq {nagq}"))
    scenario = for_data(
        data,
        y=estimate if estimate is not None else y,
        group=group,
        x=x,
        random=random,
        formula=formula,
        overrides=overrides,
        family=family,
        trials=trials,
        exposure=exposure,
        se=se,
    )
    assert isinstance(scenario.data, DataFileSpec)  # for_data always reads a table
    if is_rates(scenario):  # binomial, Poisson, known SEs: glmer's or metafor's summary (shrinkvis.rates)
        _fit_rates(scenario, json_output, estimates_file, started)
        return
    if nagq is not None:
        raise UserError(
            "--nagq is for binomial and Poisson models (--family, or cbind()/offset() in --formula)"
        )
    with progress.stages() as stage:
        stage(reading_stage(scenario.data.file))
        rows = read_data(scenario.data, stage)
        stage("fitting")
        estimates = fit_model(rows, scenario.model)
    seconds = time.perf_counter() - started
    table = estimates.clusters[estimates.table_columns]
    to_stdout = estimates_file is not None and str(estimates_file) == "-"
    if estimates_file is not None and not to_stdout:
        with _writing("--estimates", "path"):
            write_csv(estimates_file, table)
    for warning in estimates.warnings:
        typer.echo(f"shrinkvis: warning: {warning}", err=True)
    # `--estimates -`: the table is stdout's, and the summary (or the JSON) goes to stderr
    if json_output:
        typer.echo(json.dumps(report.fit_json(estimates, rows, seconds)), err=to_stdout)
    else:
        typer.echo(report.lme4_summary(estimates, rows), err=to_stdout)
    if to_stdout:
        from .outputs import CSV_STYLE

        typer.echo(table.to_csv(**CSV_STYLE), nl=False)
    _exit_if_not_converged(estimates)


def _fit_rates(scenario: Any, json_output: bool, estimates_file: Path | None, started: float) -> None:
    """`shrinkvis fit` of a binomial, Poisson or known-SE model: glmer's (metafor's) summary or one JSON
    object, and the per-cluster table on request."""
    import json

    from . import progress
    from .outputs import CSV_STYLE, write_csv
    from .rates.summary import fit_outputs

    with progress.stages() as stage:
        stage("fitting")
        outputs = fit_outputs(scenario, started)
    to_stdout = estimates_file is not None and str(estimates_file) == "-"
    if estimates_file is not None and not to_stdout:
        with _writing("--estimates", "path"):
            write_csv(estimates_file, outputs.table)
    for warning in outputs.warnings:
        typer.echo(f"shrinkvis: warning: {warning}", err=True)
    typer.echo(json.dumps(outputs.json) if json_output else outputs.text, err=to_stdout)
    if to_stdout:
        typer.echo(outputs.table.to_csv(**CSV_STYLE), nl=False)


@contextlib.contextmanager
def _writing(flag: str, what: str) -> Iterator[None]:
    """An output that cannot be written says which option puts it elsewhere."""
    from .errors import OutputError
    from .outputs import with_advice

    try:
        yield
    except OutputError as exc:
        raise with_advice(exc, flag, what) from None


def _write_gallery(out: Path, failures: list[tuple[str, str]]) -> None:
    """After a batch: the gallery page of everything under `out`; a failure joins the batch's failures."""
    from . import gallery

    if not out.is_dir() or not gallery.scenario_folders(out):  # nothing rendered, nothing to show
        return
    try:
        typer.echo(f"gallery: {gallery.write(out)}")
    except ShrinkvisError as exc:
        failures.append(("gallery", str(exc)))
    except Exception as exc:  # noqa: BLE001 - the page is a convenience: the batch's own failures must still be listed
        failures.append(("gallery", unexpected(exc)))


@app.command()
@user_errors
def gallery(
    outdir: Annotated[
        Path, typer.Argument(metavar="OUTDIR", help="An output root holding one folder per scenario.")
    ],
) -> None:
    """Rebuild OUTDIR/index.html, one card per scenario, from the outputs already on disk.

    Example: shrinkvis gallery out/
    """
    from . import gallery as galleries

    typer.echo(f"wrote {galleries.write(outdir)}")


@app.command()
@user_errors
def explain(
    scenario: Annotated[
        str | None,
        typer.Argument(
            metavar="SCENARIO", help="A built-in scenario name or a path to a YAML file (or use --data)."
        ),
    ] = None,
    set: SetOption = None,
    data: DataOption = None,
    y: YOption = None,
    group: GroupOption = None,
    x: XOption = None,
    random: RandomOption = None,
    formula: FormulaOption = None,
    title: TitleOption = None,
    engine: EngineOption = None,
    family: FamilyOption = None,
    trials: TrialsOption = None,
    exposure: ExposureOption = None,
    estimate: EstimateOption = None,
    se: SeOption = None,
) -> None:
    """Print the numbers behind the picture (model summary, pooling comparison, shrinkage); renders nothing.

    Example: shrinkvis explain --data examples/sleepstudy.csv --y Reaction --x Days --group Subject

    Example: shrinkvis explain surgical
    """
    from rich.console import Console

    from . import pipeline
    from . import report as reports
    from .errors import UserError
    from .rates.spec import is_rates

    if estimate is not None and y is not None:
        raise UserError("--estimate and --y both name the outcome; give one")
    loaded = _scenario_or_data(
        scenario,
        _overrides(set, None, engine),
        data,
        y=estimate if estimate is not None else y,
        group=group,
        x=x,
        random=random,
        formula=formula,
        title=title,
        family=family,
        trials=trials,
        exposure=exposure,
        se=se,
    )
    if is_rates(loaded):  # binomial, Poisson, known SEs: the text of the report.md `run` writes
        from .rates.summary import explain_text

        typer.echo(explain_text(loaded))
        return
    # a terminal gets its width; a pipe or a file gets every line whole, never wrapped or cut
    on_terminal = sys.stdout.isatty()
    console = Console(soft_wrap=not on_terminal, width=None if on_terminal else UNLIMITED_WIDTH)
    reports.show(pipeline.explain(loaded), console)


@app.command("list")
@user_errors
def list_scenarios() -> None:
    """List the built-in scenarios and their titles.

    Example: shrinkvis list
    """
    from . import scenario as scenarios

    names = scenarios.builtin_names()
    width = max(map(len, names), default=0) + 1
    for name in names:
        typer.echo(f"{name:<{width}} {scenarios.load(name).display_title}")


@app.command()
@user_errors
def validate(
    path: Annotated[str, typer.Argument(metavar="PATH", help="A scenario YAML file (or a built-in name).")],
) -> None:
    """Check a scenario file; print it with every default filled in (a scenario file itself), and
    "PATH: valid" on stderr.

    Example: shrinkvis validate baseline > mine.yaml
    """
    import yaml

    from . import scenario as scenarios

    loaded = scenarios.load(path)
    typer.echo(f"{path}: valid", err=True)
    typer.echo(yaml.safe_dump(scenarios.as_file(loaded), sort_keys=False, allow_unicode=True).rstrip())


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
    """The console command. Once the command is done, the process ends at once: tearing down the
    modules a run loaded (pandas, statsmodels, matplotlib) takes another 0.3–0.5 s that nobody needs."""
    import warnings

    from .outputs import exit_interrupted, interrupts_raise

    _standard_streams_open()
    _matplotlib_settings_folder()
    warnings.formatwarning = _one_line_warning  # a library's warning is one line, not a source excerpt
    try:
        # SIGTERM would otherwise end the process without running cleanup, leaving temporary files
        with interrupts_raise(at_once=exit_interrupted):
            app()
        code: Any = 0
    except SystemExit as exc:  # how click ends every command, with the exit code
        code = exc.code
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # e.g. a closed pipe: `shrinkvis list | head -1`
            stream.flush()
    os._exit(code)


def _matplotlib_settings_folder() -> None:
    """A folder for matplotlib's settings and font cache when its own, in HOME, cannot be written.

    Matplotlib would then make a fresh temporary folder on every run, leave it behind and say so on
    stderr. Instead it is given shrinkvis's cache folder, or, when HOME is not writable at all, one folder
    of this user's in the temporary directory, made once and used by every later run. Set before any
    process that loads matplotlib starts (drawing process, batch workers), which inherit it.
    """
    import tempfile

    if "MPLCONFIGDIR" in os.environ:
        return
    home = Path(os.environ.get("HOME") or os.path.expanduser("~"))
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    own = config / "matplotlib" if sys.platform.startswith(("linux", "freebsd")) else home / ".matplotlib"
    if _writable_folder(own):
        return
    cache = Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "shrinkvis" / "matplotlib"
    user = os.getuid() if hasattr(os, "getuid") else "user"
    shared = Path(tempfile.gettempdir()) / f"shrinkvis-{user}" / "matplotlib"
    for folder in (cache, shared):
        if _writable_folder(folder, private=folder == shared):
            os.environ["MPLCONFIGDIR"] = str(folder)
            return


def _writable_folder(folder: Path, private: bool = False) -> bool:
    """Whether `folder` exists (made if need be) and this process may write into it; a `private` one
    (in a temporary directory others write to) must also be this user's own, not a link."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if private:
            for part in (folder.parent, folder):
                status = part.lstat()
                if os.path.islink(part) or (hasattr(os, "getuid") and status.st_uid != os.getuid()):
                    return False
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def _standard_streams_open() -> None:
    """A closed stdin, stdout or stderr (`shrinkvis run baseline >&-`) is opened on the null device.

    The command then does its work and exits 0 with its messages unread, as with `> /dev/null`. Left
    closed, the descriptor would go to the next file opened, and a message would land inside an output.
    """
    for descriptor, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(descriptor)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != descriptor:
                os.dup2(null, descriptor)
                os.close(null)
        if getattr(sys, name) is None:  # Python found it closed at start-up
            setattr(sys, name, open(descriptor, mode, closefd=False))  # noqa: SIM115 — lives as long as the process


if __name__ == "__main__":
    sys.exit(main())
