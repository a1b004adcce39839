"""Outputs go to regular files or new paths, every OS error is one line in words naming the user's path and
the option that changes it, and a batch never lets two scenarios share a folder (issue 22 §3, issue 26).

Root-safe: no real device node is touched; FIFOs and links are made in the test's folder, and the errors of
a read-only or full file system are raised by a stand-in for `os.open`, which also works as root."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from shrinkvis import outputs
from shrinkvis.cli import app
from shrinkvis.errors import OutputError

ROOT = Path(__file__).resolve().parent.parent
SLEEP = str(ROOT / "examples" / "sleepstudy.csv")
FIT = ["fit", "--data", SLEEP, "--formula", "Reaction ~ Days + (Days | Subject)"]
FAST = ["--set", "animation.frames=3", "--set", "data.n_cluster=12", "--format", "png"]
runner = CliRunner()


def _error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("shrinkvis: error: ")
    return lines[0].removeprefix("shrinkvis: error: ")


def _no_temporaries(folder: Path) -> None:
    assert not [path for path in folder.rglob("*") if path.name.endswith(outputs.TEMPORARY_SUFFIX)]


def _failing_open(monkeypatch, code: int) -> None:
    """Creating any `.part` file fails with `code`, and so does removing one (as on a read-only mount)."""
    real_open, real_unlink = os.open, os.unlink

    def refuse(path, *args, **kwargs):
        if str(path).endswith(outputs.TEMPORARY_SUFFIX):
            raise OSError(code, os.strerror(code), os.fspath(path))
        return real_open(path, *args, **kwargs)

    def refuse_unlink(path, *args, **kwargs):
        if str(path).endswith(outputs.TEMPORARY_SUFFIX):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    monkeypatch.setattr(os, "unlink", refuse_unlink)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.EROFS, "the file system is read-only"),
        (errno.EACCES, "permission denied"),
        (errno.ENOSPC, "no space left on the device"),
        (errno.EDQUOT, "disk quota"),
    ],
)
def test_fit_estimates_in_words(tmp_path, monkeypatch, code, words):
    monkeypatch.chdir(tmp_path)
    _failing_open(monkeypatch, code)
    line = _error(runner.invoke(app, [*FIT, "--estimates", "est.csv"]))
    assert line.startswith("cannot write est.csv: ") and words in line
    assert line.endswith("; give another path with --estimates")
    assert ".part" not in line  # the user's path, never the temporary name
    _no_temporaries(tmp_path)


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC])
def test_run_out_in_words(tmp_path, monkeypatch, code):
    _failing_open(monkeypatch, code)
    result = runner.invoke(app, ["run", "baseline", "--out", str(tmp_path / "out"), *FAST])
    assert result.exit_code == 1
    line = _error(result)
    assert line.startswith(f"cannot write {tmp_path / 'out' / 'baseline'}/")
    assert ".part" not in line and line.endswith("; give another folder with --out")


def test_a_file_where_a_folder_should_be(tmp_path):
    blocker = tmp_path / "slides"
    blocker.write_text("not a folder")
    line = _error(runner.invoke(app, ["run", "baseline", "--out", str(blocker), *FAST]))
    assert line == (
        f"cannot create the folder {blocker / 'baseline'}: {blocker} is a file, not a folder; "
        "give another folder with --out"
    )
    line = _error(runner.invoke(app, [*FIT, "--estimates", str(blocker / "est.csv")]))
    assert line == (
        f"cannot create the folder {blocker}: {blocker} is a file, not a folder; give another path with --estimates"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a folder without write permission")
def test_a_read_only_folder_for_real(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o555)
    try:
        line = _error(runner.invoke(app, [*FIT, "--estimates", str(folder / "est.csv")]))
    finally:
        folder.chmod(0o755)
    assert line.startswith(f"cannot write {folder / 'est.csv'}: permission denied")
    assert line.endswith("--estimates")


def test_missing_parent_folders_are_made(tmp_path):
    target = tmp_path / "new" / "deeper" / "est.csv"
    assert runner.invoke(app, [*FIT, "--estimates", str(target)]).exit_code == 0
    assert len(pd.read_csv(target)) == 18


def test_a_fifo_is_refused_not_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    line = _error(runner.invoke(app, [*FIT, "--estimates", str(fifo)]))
    assert line == (
        f"{fifo}: is a FIFO (named pipe); shrinkvis writes only regular files or new paths; "
        "give another path with --estimates"
    )
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_a_symlink_is_refused_and_its_target_untouched(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = tmp_path / "est.csv"
    link.symlink_to(target)
    line = _error(runner.invoke(app, [*FIT, "--estimates", str(link)]))
    assert line.startswith(f"{link}: is a symbolic link; shrinkvis writes only regular files or new paths")
    assert link.is_symlink() and target.read_text() == "keep me"


def test_a_device_is_refused(tmp_path, monkeypatch):
    """A device node (`--estimates /dev/stdout` run as root replaced it): its mode stands in, so that no
    real device is ever at risk in this test."""
    device = tmp_path / "tty"
    device.write_text("")
    real_lstat = Path.lstat

    def as_device(path):
        status = real_lstat(path)
        if path == device:
            return os.stat_result((stat.S_IFCHR | 0o620, *tuple(status)[1:]))
        return status

    monkeypatch.setattr(Path, "lstat", as_device)
    with pytest.raises(OutputError, match=r"tty: is a device; shrinkvis writes only regular files"):
        outputs.write_text(device, "x")
    assert device.read_text() == ""


def test_a_folder_is_refused(tmp_path):
    line = _error(runner.invoke(app, [*FIT, "--estimates", str(tmp_path)]))
    assert (
        line
        == f"{tmp_path}: is a folder; shrinkvis writes only regular files or new paths; give another path with --estimates"
    )


def test_a_regular_file_is_replaced(tmp_path):
    target = tmp_path / "est.csv"
    target.write_text("old")
    assert runner.invoke(app, [*FIT, "--estimates", str(target)]).exit_code == 0
    assert target.read_text().startswith("cluster,n,")


def test_a_dash_writes_the_table_to_stdout_and_the_summary_to_stderr(tmp_path):
    result = runner.invoke(app, [*FIT, "--estimates", "-"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("cluster,n,no_pool_intercept,")
    assert len(result.stdout.strip().splitlines()) == 19  # a header and 18 subjects
    assert "Random effects:" in result.stderr and "Random effects:" not in result.stdout
    assert not Path("-").exists()


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"A/x.yaml": "{}", "B/x.yaml": "{}"}, "A/x.yaml and B/x.yaml would both write into {out}/x"),
        ({"x.yaml": "{}", "y.yaml": 'name: "x!"'}, "x.yaml and y.yaml would both write into {out}/x"),
        ({"x.yaml": "{}"}, "x.yaml: given twice; a batch renders each scenario once"),
    ],
)
def test_a_batch_never_lets_two_scenarios_share_a_folder(tmp_path, monkeypatch, files, expected):
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        Path(name).parent.mkdir(exist_ok=True)
        Path(name).write_text(text)
    names = list(files) if len(files) > 1 else [*files, *files]
    out = tmp_path / "out"
    result = runner.invoke(app, ["batch", *names, "--out", str(out), *FAST])
    assert result.exit_code == 2
    assert _error(result).startswith(expected.format(out=out))
    assert not out.exists()  # refused before anything was rendered
