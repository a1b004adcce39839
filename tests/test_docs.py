"""The README and docs/ cannot go stale: every command they show runs, every link resolves.

- A fenced ``sh`` block: each line is run by bash in a temporary folder holding a copy of `examples/`, with a
  `shrinkvis` first on the PATH that gives `run` and `batch` small-render options (4 frames of 160×120, PNG
  only) before the command's own (which win), so that the test stays fast; the command must exit 0.
- A fenced ``console`` block: `$ command` lines are run the same way; each line after one is output the
  command must print (`…` stands for any text).
- A fenced ``python`` block is run in a fresh interpreter in such a folder (`shrinkvis.load_scenario` gives
  the same small-render options).
- A block preceded by `<!-- not run: REASON -->` (an install, R, Spark, files of your own) is only parsed:
  its `shrinkvis` commands must name real commands and options, its Python must compile and its imports
  from shrinkvis must exist.
- Inline code that starts with `shrinkvis ` names a real command and real options; `python benchmarks/…`,
  `Rscript …` and `bash benchmarks/…` name files that exist (and options the script has).
- Every relative link (and image) resolves to a file, and its `#anchor` to a heading there, under both
  GitHub's and MkDocs' way of making anchors.
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FAST_RENDER = "--set animation.frames=4 --set animation.width=160 --set animation.height=120 --format png"
# the Python blocks' scenarios render small too, for the same reason: the reader's overrides come last and win
SMALL_RENDERS = (
    "import shrinkvis as _shrinkvis\n"
    "_load = _shrinkvis.load_scenario\n"
    "_small = ['animation.frames=4', 'animation.width=160', 'animation.height=120', 'animation.formats=png']\n"
    "_shrinkvis.load_scenario = lambda name, overrides=(): _load(name, [*_small, *overrides])\n"
)
NOT_RUN = re.compile(r"<!--\s*not run:\s*(?P<reason>.*?)\s*-->", re.DOTALL)
SHELL_OPERATORS = {"|", "||", "&&", ";", ">", ">>", "<", "2>", "2>&1", ">&-", "2>&-"}


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    language: str
    text: str
    not_run: str | None  # the reason given, when the block is only parsed

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = re.match(r"^```(\w*)\s*$", lines[index])
        if not opening:
            index += 1
            continue
        start = index
        index += 1
        body: list[str] = []
        while not lines[index].startswith("```"):
            body.append(lines[index])
            index += 1
        before = "\n".join(lines[max(0, start - 3) : start])
        marker = NOT_RUN.search(before)
        found.append(
            Block(
                page, start + 1, opening.group(1), "\n".join(body), marker.group("reason") if marker else None
            )
        )
        index += 1
    return found


ALL_BLOCKS = [block for page in PAGES for block in blocks(page)]


def _without_code(text: str) -> str:
    text = re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
    return re.sub(r"`[^`\n]*`", "", text)


# ---------------------------------------------------------------- links


def _github_slug(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def _mkdocs_slug(heading: str) -> str:  # Python-Markdown's toc.slugify
    text = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(page: Path) -> tuple[set[str], set[str]]:
    headings = re.findall(r"^#+\s+(.*?)\s*$", _without_fences(page.read_text(encoding="utf-8")), re.MULTILINE)
    return {_github_slug(h) for h in headings}, {_mkdocs_slug(h) for h in headings}


def _without_fences(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)


def _links(page: Path) -> list[str]:
    return re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", _without_code(page.read_text(encoding="utf-8")))


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_link_resolves(page: Path) -> None:
    checked = 0
    for link in _links(page):
        if re.match(r"^[a-z]+:", link):  # http:, https:, mailto: — nothing to check offline
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        assert target.exists(), f"{page.name}: link {link!r}: {target} does not exist"
        if anchor:
            github, mkdocs = _anchors(target)
            assert anchor in github and anchor in mkdocs, (
                f"{page.name}: link {link!r}: no heading in {target.name} makes the anchor #{anchor}"
            )
        checked += 1
    assert checked > 0 or page.name == "baseline.gif", f"{page.name} links to nothing"


def test_every_docs_page_is_reachable_from_the_readme_and_the_site() -> None:
    """A page nobody links to is a page nobody reads; mkdocs.yml's nav lists every page."""
    readme_links = {link.partition("#")[0] for link in _links(ROOT / "README.md")}
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in PAGES[1:]:
        assert f"docs/{page.name}" in readme_links, f"README does not link to docs/{page.name}"
        assert re.search(rf":\s*{re.escape(page.name)}\s*$", nav, re.MULTILINE), f"mkdocs.yml: {page.name}"


def test_the_readme_is_a_five_minute_read() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    # .ci/run greps for this exact line and runs it
    assert (
        "\npython3 -m venv .venv && .venv/bin/pip install -q '.[test]' && .venv/bin/python -m pytest\n"
        in readme
    )


def test_every_block_that_is_not_run_says_why() -> None:
    for block in ALL_BLOCKS:
        if block.not_run is not None:
            assert len(block.not_run.split()) >= 3, f"{block.where}: say why this block is not run"
        if block.language in {"", "bash", "shell"}:
            assert not re.search(r"^\s*shrinkvis ", block.text, re.MULTILINE), (
                f"{block.where}: a command belongs in a `sh` or `console` block (or `text` for a synopsis)"
            )


# ---------------------------------------------------------------- commands, parsed


def _cli_commands() -> dict[str, set[str]]:
    import typer.main

    from shrinkvis.cli import app

    group = typer.main.get_command(app)
    helps = set(group.context_settings["help_option_names"])  # -h and --help, on every command
    options = {"": helps | {opt for param in group.params for opt in (*param.opts, *param.secondary_opts)}}
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        options[name] = helps | {
            opt for param in command.params for opt in (*param.opts, *param.secondary_opts)
        }
    return options


def check_shrinkvis_command(command: str, where: str) -> None:
    """`shrinkvis SUBCOMMAND --option …` names a real command and real options (placeholders allowed)."""
    known = _cli_commands()
    text = command.replace("\\|", "|")
    try:
        tokens = shlex.split(text, comments=True)
    except ValueError:
        tokens = text.split()
    tokens = tokens[tokens.index("shrinkvis") + 1 :]
    subcommand = ""
    for token in tokens:
        token = token.strip("[]…")
        if token in SHELL_OPERATORS or token.startswith((">", "2>")):
            break
        if not token or token == "-" or re.fullmatch(r"-\d.*", token):  # `-`: stdout; `-2.6`: a number
            continue
        if token.startswith("-"):
            option = token.split("=", 1)[0]
            assert option in known[subcommand], (
                f"{where}: `{command}`: {option} is not an option of shrinkvis {subcommand}".rstrip()
            )
        elif not subcommand:
            assert token in known, f"{where}: `{command}`: {token} is not a shrinkvis command"
            subcommand = token


def _commands_of(block: Block) -> list[str]:
    lines = block.text.splitlines()
    if block.language == "console":
        lines = [line[2:] for line in lines if line.startswith("$ ")]
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _inline_code(page: Path) -> list[str]:
    return re.findall(r"`([^`\n]+)`", _without_fences(page.read_text(encoding="utf-8")))


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_inline_command_names_real_options(page: Path) -> None:
    for code in _inline_code(page):
        where = page.name
        if code.startswith("shrinkvis ") or code.startswith("python -m shrinkvis "):
            check_shrinkvis_command(code, where)
        elif re.match(r"^(python|Rscript|bash) benchmarks/", code):
            script = ROOT / code.split()[1]
            assert script.exists(), f"{where}: `{code}`: {script.name} does not exist"
            source = script.read_text(encoding="utf-8")
            for option in re.findall(r"(?<!\S)(--[a-z][\w-]*)", code):
                assert option in source, f"{where}: `{code}`: {script.name} has no {option}"


@pytest.mark.parametrize(
    "block",
    [block for block in ALL_BLOCKS if block.language == "sh"],
    ids=lambda block: block.where,
)
def test_every_command_names_real_options(block: Block) -> None:
    """(A `console` block may show a wrong option on purpose, with the error it gets; it is run instead.)"""
    for command in _commands_of(block):
        for part in re.split(r"&&|\|\||;", command):
            if "shrinkvis " in part and not re.search(r"pip install|python3? -m venv", part):
                check_shrinkvis_command(part[part.index("shrinkvis ") :], block.where)


@pytest.mark.parametrize(
    "block", [block for block in ALL_BLOCKS if block.language == "python"], ids=lambda block: block.where
)
def test_every_python_block_compiles_and_imports_what_exists(block: Block) -> None:
    tree = ast.parse(block.text, filename=block.where)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("shrinkvis"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{block.where}: {node.module} has no {alias.name}"


# ---------------------------------------------------------------- commands, run


@pytest.fixture
def workdir(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A folder like a fresh clone's root, and an environment whose `shrinkvis` renders small."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios")
    bin_dir = tmp_path / ".bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "shrinkvis"
    installed = Path(sys.executable).parent / "shrinkvis"  # the console command, as a reader runs it
    real = (
        shlex.quote(str(installed)) if installed.exists() else f"{shlex.quote(sys.executable)} -m shrinkvis"
    )
    wrapper.write_text(
        "#!/bin/sh\n"
        # before the reader's own options, so that theirs win (a `--format` shown is the one used)
        f'case "$1" in run|batch) command=$1; shift\n'
        f'  exec {real} "$command" {FAST_RENDER} "$@" ;; esac\n'
        f'exec {real} "$@"\n'
    )
    wrapper.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "NO_COLOR": "1"}
    env.pop("SHRINKVIS_DEBUG", None)
    return tmp_path, env


def _run(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


RUN_PAGES = [
    page
    for page in PAGES
    if any(b.not_run is None for b in blocks(page) if b.language in {"sh", "console", "python"})
]


@pytest.mark.parametrize("page", RUN_PAGES, ids=lambda page: page.name)
def test_every_command_shown_runs(page: Path, workdir: tuple[Path, dict[str, str]]) -> None:
    """The blocks of one page run in order in one folder, as a reader would type them."""
    cwd, env = workdir
    ran = 0
    for block in blocks(page):
        if block.not_run is not None or block.language not in {"sh", "console", "python"}:
            continue
        if block.language == "python":
            done = subprocess.run(
                [sys.executable, "-c", SMALL_RENDERS + block.text],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert done.returncode == 0, f"{block.where}: the Python failed:\n{done.stderr[-2000:]}"
            ran += 1
            continue
        if block.language == "sh":
            for command in _commands_of(block):
                done = _run(command, cwd, env)
                assert done.returncode == 0, (
                    f"{block.where}: `{command}` exited {done.returncode}:\n{done.stderr[-2000:]}"
                )
                ran += 1
            continue
        for command, expected in _console_steps(block):
            done = _run(command, cwd, env)
            printed = (done.stdout + done.stderr).splitlines()
            for line in expected:
                pattern = "^" + ".*".join(re.escape(part) for part in line.split("…")) + "$"
                assert any(re.match(pattern, out) for out in printed), (
                    f"{block.where}: `{command}` did not print\n  {line}\nbut:\n  " + "\n  ".join(printed)
                )
            ran += 1
    assert ran > 0


def _console_steps(block: Block) -> list[tuple[str, list[str]]]:
    steps: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif line.strip() and steps:
            steps[-1][1].append(line)
    return steps


def test_the_pages_build_as_a_site(tmp_path):
    """`mkdocs build --strict` (a warning is an error: a broken link, a page outside the nav)."""
    pytest.importorskip(
        "mkdocs", reason="mkdocs is in the docs extra, not the test extra: pip install '.[docs]'"
    )
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "own-data" / "index.html").exists()
