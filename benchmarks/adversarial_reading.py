"""An adversarial pass over the reading rules, the degenerate-data checks, user text and the gallery.

Each case is generated from a seed and judged by what must hold, never by what the code happens to do:

- reader:   a random awkward CSV (missing spellings, blanks, quotes, odd labels, bad numbers, columns in
            any order, short or long rows, BOMs, CRLF) read by pandas and by DuckDB: the same rows per
            cluster or the same one-line error; and rows that the rules keep must match a plain
            re-implementation of the rules in this script (an independent oracle).
- folders:  the rows of one table split into files with their columns in random orders (and
            delimiters): summed by DuckDB as a folder, they must equal the whole table read in memory.
- cli:      bad paths and bad options through the real command: exit code 2, one line, no traceback,
            and nothing written outside the output folder.
- degenerate: data with no residual variation (exact lines, constant within clusters) with random
            noise of size 0 or 1e-3: an error when there is none, a fit with a positive residual SD else.
- text:     titles, descriptions and labels with $, backslashes, braces and unicode: exit code 0.
- gallery:  summaries nested, truncated or typed wrongly: the gallery command exits 0 and shows every
            card.

Run: python benchmarks/adversarial_reading.py [--quick]   (prints one line per failure and a summary)
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from shrinkvis.aggregate import file_sums
from shrinkvis.data import cluster_order, read_model_data
from shrinkvis.errors import DataError
from shrinkvis.fit import fit
from shrinkvis.reading import LABEL_MISSING, NUMBER_MISSING, NUMBER_PATTERN
from shrinkvis.scenario import DataFileSpec, ModelSpec

FAILURES: list[str] = []
COUNTS: dict[str, int] = {}


def case(category: str, ok: bool, what: str) -> None:
    COUNTS[category] = COUNTS.get(category, 0) + 1
    if not ok:
        FAILURES.append(f"{category}: {what}")
        print(f"FAIL {category}: {what}", flush=True)


# ---- reader ----------------------------------------------------------------------------------------

NUMBERS = ["1", "2.5", "-3", "+4", ".5", "6.", "1e1", "2E-1", " 7 ", "8 ", "0", "-0", "1e-5", "123456789"]
ODD_NUMBERS = ["abc", "1_000", "0x1A", "inf", "-Infinity", "1e400", "NAN", "1,5", "True", "—", "１"]
LABELS = [
    "a",
    "b",
    "c",
    "d",
    " a",
    "a ",
    "007",
    "7",
    "N/A",
    "None",
    "null",
    "é",
    "日本",
    "$x$",
    "a,b",
    "x\ny",
    "",
]


def _field(text: str, delimiter: str) -> str:
    if any(char in text for char in (delimiter, '"', "\n", "\r")):
        return '"' + text.replace('"', '""') + '"'
    return text


def random_table(rng: np.random.Generator, odd: bool) -> tuple[bytes, str]:
    delimiter = str(rng.choice([",", ",", ";", "\t", "|"]))
    order = list(rng.permutation(["y", "x", "g"]))
    extra = ["z"] * int(rng.integers(0, 2))
    header = order + extra
    lines = [delimiter.join(header)]
    for _ in range(int(rng.integers(6, 30))):
        values = {
            "y": str(rng.choice(NUMBERS + list(NUMBER_MISSING[:4]))),
            "x": str(rng.choice(NUMBERS)),
            "g": str(rng.choice(LABELS[:4] + (LABELS if odd else []) + list(LABEL_MISSING))),
            "z": str(rng.choice(["q", "", "1"])),
        }
        if odd and rng.random() < 0.05:
            values[str(rng.choice(["y", "x"]))] = str(rng.choice(ODD_NUMBERS))
        if delimiter == ";":
            values = {key: value.replace(".", ",") if key in "yx" else value for key, value in values.items()}
        row = [_field(values[name], delimiter) for name in header]
        if odd and rng.random() < 0.03:
            row = row[:-1]  # a short row
        if odd and rng.random() < 0.02:
            row = row + ["extra"]  # a long row
        lines.append(delimiter.join(row))
    newline = "\r\n" if rng.random() < 0.2 else "\n"
    text = newline.join(lines) + newline
    prefix = b"\xef\xbb\xbf" if rng.random() < 0.1 else b""
    suffix = ".tsv" if delimiter == "\t" and rng.random() < 0.5 else ".csv"
    return prefix + text.encode(), suffix


def summary_in_memory(path: Path) -> object:
    try:
        data = read_model_data(DataFileSpec(file=str(path), y="y", x="x", group="g"))
    except DataError as error:
        return str(error)
    codes, labels = cluster_order(data.frame["cluster"])
    n = np.bincount(codes, minlength=len(labels))
    mean_y = np.bincount(codes, weights=data.frame["y"], minlength=len(labels)) / n
    return [str(label) for label in labels], list(n), mean_y, data.dropped_rows


def summary_by_duckdb(path: Path) -> object:
    try:
        sums = file_sums(path, y="y", x="x", group="g")
    except DataError as error:
        return str(error)
    return [str(label) for label in sums.labels], list(sums.stats.n), sums.stats.mean_y, sums.dropped_rows


def same(a: object, b: object) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return a[0] == b[0] and a[1] == b[1] and np.allclose(a[2], b[2], rtol=1e-10) and a[3] == b[3]


def oracle(path: Path) -> object:
    """The rules written out plainly (for files without short or long rows): rows kept per cluster."""
    raw = path.read_bytes().decode("utf-8-sig")
    delimiter = "\t" if path.suffix == ".tsv" else None
    import csv
    import io

    if delimiter is None:
        header = raw.splitlines()[0]
        delimiter = max(",;\t|", key=header.count)
    rows = list(csv.reader(io.StringIO(raw, newline=""), delimiter=delimiter))
    names = [name.strip() for name in rows[0]]
    kept: dict[str, list[float]] = {}
    dropped = 0
    for row in rows[1:]:
        if not row:
            continue
        if len(row) != len(names):
            return None  # short and long rows: left to the comparison of the two readers
        record = dict(zip(names, row, strict=True))
        y, x, g = record["y"], record["x"], record["g"]
        if y in NUMBER_MISSING or x in NUMBER_MISSING or g in LABEL_MISSING:
            dropped += 1
            continue
        numbers = []
        for text in (y, x):
            text = text.strip().replace(",", ".") if delimiter == ";" else text.strip()
            if not re.fullmatch(NUMBER_PATTERN, text):
                return "error"
            numbers.append(float(text))
        kept.setdefault(g, []).append(numbers[0])
    return {label: (len(values), sum(values) / len(values)) for label, values in kept.items()}, dropped


def reader_cases(folder: Path, count: int) -> None:
    for seed in range(count):
        rng = np.random.default_rng(seed)
        content, suffix = random_table(rng, odd=seed % 2 == 1)
        path = folder / f"r{seed}{suffix}"
        path.write_bytes(content)
        memory, duck = summary_in_memory(path), summary_by_duckdb(path)
        case(
            "reader: both ways", same(memory, duck), f"{path.name}: {str(memory)[:150]} vs {str(duck)[:150]}"
        )
        expected = oracle(path)
        if expected is None or isinstance(memory, str) and "group(s)" in memory:
            continue
        if expected == "error":
            case("reader: oracle", isinstance(memory, str), f"{path.name}: kept a row the rules refuse")
            continue
        groups, dropped = expected
        if isinstance(memory, str):
            case("reader: oracle", False, f"{path.name}: refused ({memory[:120]}) rows the rules keep")
            continue
        labels, n, mean_y, memory_dropped = memory
        got = {label: (count, mean) for label, count, mean in zip(labels, n, mean_y, strict=True)}
        agree = set(got) == set(groups) and all(
            got[label][0] == groups[label][0] and math.isclose(got[label][1], groups[label][1], rel_tol=1e-9)
            for label in groups
        )
        case("reader: oracle", agree and memory_dropped == dropped, f"{path.name}: {got} vs {groups}")


def folder_cases(root: Path, count: int) -> None:
    for seed in range(count):
        rng = np.random.default_rng(1000 + seed)
        folder = root / f"f{seed}"
        folder.mkdir()
        rows = 40 + int(rng.integers(0, 200))
        frame = pd.DataFrame(
            {
                "y": rng.normal(size=rows).round(3),
                "x": rng.normal(size=rows).round(3),
                "g": rng.choice(["a", "b", "c", "d", "e"], rows),
                "other": rng.integers(0, 9, rows),
            }
        )
        cuts = np.sort(rng.choice(np.arange(1, rows), size=int(rng.integers(1, 6)), replace=False))
        bounds = [0, *cuts.tolist(), rows]
        for part in range(len(bounds) - 1):
            piece = frame.iloc[bounds[part] : bounds[part + 1]]
            columns = list(rng.permutation(frame.columns))
            if rng.random() < 0.3:
                columns.remove("other")
            sep = str(rng.choice([",", "\t", "|"]))
            piece[columns].to_csv(folder / f"part{part}.csv", index=False, sep=sep)
        whole = folder.parent / f"whole{seed}.csv"
        frame.to_csv(whole, index=False)
        sums = summary_by_duckdb(folder)
        memory = summary_in_memory(whole)
        case(
            "folders: by name", same(memory, sums), f"{folder.name}: {str(memory)[:120]} vs {str(sums)[:120]}"
        )


# ---- the command ------------------------------------------------------------------------------------


def command(*args: str, cwd: Path, timeout: float = 120) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "shrinkvis", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return done.returncode, done.stdout, done.stderr


def one_line_error(code: int, err: str) -> bool:
    lines = [line for line in err.splitlines() if line.strip()]
    return (
        code == 2 and len(lines) == 1 and "Traceback" not in err and lines[0].startswith("shrinkvis: error:")
    )


def cli_cases(root: Path) -> None:
    work = root / "cli"
    work.mkdir()
    good = work / "good.csv"
    rng = np.random.default_rng(5)
    g = np.repeat(list("abcdef"), 10)
    x = rng.normal(size=60)
    pd.DataFrame({"y": 1 + x + rng.normal(size=60), "x": x, "g": g}).to_csv(good, index=False)
    (work / "empty_dir").mkdir()
    (work / "loop").mkdir()
    (work / "loop" / "self").symlink_to(work / "loop")
    os.mkfifo(work / "fifo.csv")
    (work / "dangling.csv").symlink_to(work / "nowhere.csv")
    (work / "mixed").mkdir()
    duckdb.from_df(pd.DataFrame({"y": [1.0], "x": [2.0], "g": ["a"]})).write_parquet(
        str(work / "mixed" / "a.parquet")
    )
    (work / "mixed" / "b.csv").write_text("y,x,g\n1,2,a\n")
    bad = [
        ["fit", "--data", "nothing.csv", "--y", "y", "--group", "g"],
        ["fit", "--data", "empty_dir", "--y", "y", "--group", "g"],
        ["fit", "--data", "loop", "--y", "y", "--group", "g"],
        ["fit", "--data", "loop/**/*.csv", "--y", "y", "--group", "g"],
        ["fit", "--data", "fifo.csv", "--y", "y", "--group", "g"],
        ["fit", "--data", "dangling.csv", "--y", "y", "--group", "g"],
        ["fit", "--data", "mixed/*", "--y", "y", "--group", "g"],
        ["fit", "--data", "/dev/null", "--y", "y", "--group", "g"],
        ["fit", "--data", "good.csv", "--y", "y", "--group", "y"],
        ["fit", "--data", "good.csv", "--y", "Y", "--group", "g"],
        ["fit", "--data", "good.csv", "--y", "g", "--group", "y"],
        ["fit", "--data", "good.csv", "--formula", "y ~ x + (" + " " * 5000 + "x"],
        ["fit", "--data", "good.csv", "--formula", "y ~ x + (x | g) + (1 | x)"],
        ["fit", "--data", "good.csv", "--y", "y", "--x", "x", "--group", "g", "--method", "XX"],
        [
            "run",
            "baseline",
            "--set",
            "animation.contour_levels=[" + ",".join(["0.5"] * 11) + ",0.6" * 10 + "]",
        ],
        [
            "run",
            "baseline",
            "--set",
            "model.bayes.draws=1000000",
            "--set",
            "model.bayes.chains=64",
            "--set",
            "model.engine=bayes",
            "--out",
            "out",
        ],
        ["run", "baseline", "--set", "animation.math_text=maybe"],
        ["fit", "--data", "good.csv[", "--y", "y", "--group", "g"],
        ["fit", "--data", "**", "--y", "y", "--group", "g"],
        ["fit", "--data", "good.csv", "--y", "y" * 5000, "--group", "g"],
    ]
    for args in bad:
        before = sorted(str(path) for path in root.rglob("*") if "out" not in path.parts)
        try:
            code, out, err = command(*args, cwd=work)
        except subprocess.TimeoutExpired:
            case("cli: one line", False, f"{' '.join(args)[:80]}: hung past 120 s")
            continue
        after = sorted(str(path) for path in root.rglob("*") if "out" not in path.parts)
        case(
            "cli: one line",
            one_line_error(code, err),
            f"{' '.join(args)[:80]}: exit {code}: {err.strip()[:200]}",
        )
        case(
            "cli: writes nothing", before == after, f"{' '.join(args)[:80]}: wrote {set(after) - set(before)}"
        )


# ---- degenerate data -----------------------------------------------------------------------------------


def degenerate_cases(count: int) -> None:
    for seed in range(count):
        rng = np.random.default_rng(2000 + seed)
        clusters = int(rng.integers(3, 12))
        per = int(rng.integers(3, 9))
        cluster = np.repeat(np.arange(clusters), per)
        x = rng.normal(size=len(cluster)) * 10 ** rng.uniform(-3, 3)
        kind = ["constant", "common", "lines"][seed % 3]
        offset = 10 ** rng.uniform(-2, 6)
        a, b = offset + rng.normal(size=clusters), rng.normal(size=clusters)
        y = {"constant": a[cluster], "common": a[cluster] + 2 * x, "lines": a[cluster] + b[cluster] * x}[kind]
        noisy = seed % 2 == 0
        if noisy:
            y = y + rng.normal(size=len(y)) * 1e-3 * np.std(y)
        random = "slope" if kind == "lines" else "intercept"
        frame = pd.DataFrame({"y": y, "cluster": cluster} | ({} if kind == "constant" else {"x": x}))
        try:
            estimates = fit(frame, ModelSpec(random=random))
        except DataError as error:
            case("degenerate", not noisy, f"seed {seed} {kind} noisy={noisy}: refused: {error}")
            continue
        case(
            "degenerate",
            noisy and estimates.residual_sd > 0,
            f"seed {seed} {kind} noisy={noisy}: a fit, residual SD {estimates.residual_sd:g}",
        )


# ---- user text and the gallery --------------------------------------------------------------------------

TEXTS = [
    r"$\foo$",
    "From $5 to $10",
    r"\n\t{}%",
    "$$",
    "$",
    r"a_{b}^c $\frac{1}{0}$",
    "日本語 ✓",
    "<b>&amp;</b>",
]


def text_cases(root: Path, count: int) -> None:
    for seed in range(count):
        rng = np.random.default_rng(3000 + seed)
        title, description, label = (str(rng.choice(TEXTS)) for _ in range(3))
        g = np.repeat([label, f"{label}2", "plain", "$y$"], 8)
        x = rng.normal(size=len(g))
        frame = pd.DataFrame({"y": 2 * x + rng.normal(size=len(g)), str(rng.choice(TEXTS)): x, "g": g})
        path = root / f"text{seed}.csv"
        frame.to_csv(path, index=False)
        view = ["shrinkage", "funnel", "lines", "caterpillar", "stages"][seed % 5]
        args = [
            "run",
            "--data",
            str(path),
            "--y",
            "y",
            "--x",
            frame.columns[1],
            "--group",
            "g",
            "--view",
            view,
        ]
        args += ["--out", str(root / "out"), "--format", "png", "--set", "animation.frames=3"]
        args += ["--set", f"title={title}", "--set", f"description={description}"]
        code, out, err = command(*args, cwd=root)
        case("text: drawn", code == 0, f"{view} {title!r} {label!r}: exit {code}: {err.strip()[-200:]}")


def gallery_cases(root: Path, count: int) -> None:
    from shrinkvis.gallery import SUMMARY_NAME

    shapes = [
        "[" * 50_000 + "]" * 50_000,
        '{"scenario": ' + '{"a": ' * 3_000 + "1" + "}" * 3_001,
        '{"warnings": [' + "[" * 2_000 + "]" * 2_000 + "]}",
        '{"scenario": {"title": ' + '"' + "x" * 1_000_000 + '"}}',
        '{"fixed_effects": {"x": ' + "1" * 5000 + "}}",
        '{"files": [' + ",".join(['{"name": 1}'] * 5) + "]}",
        '{"n_obs": 1e999, "n_groups": -1e999}',
        "\x00\x01",
    ]
    for seed in range(count):
        folder = root / f"gallery{seed}"
        for index, text in enumerate(shapes[seed : seed + 3] or shapes[:2]):
            scenario = folder / f"s{index}"
            scenario.mkdir(parents=True)
            (scenario / SUMMARY_NAME).write_text(text)
        code, out, err = command("gallery", str(folder), cwd=root)
        page = (folder / "index.html").read_text() if (folder / "index.html").exists() else ""
        cards = page.count("<article")
        case(
            "gallery: every card",
            code == 0 and cards == len(list(folder.iterdir())) - 1,
            f"{seed}: exit {code}, {cards} cards: {err[-200:]}",
        )


def main() -> None:
    quick = "--quick" in sys.argv
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="shrinkvis-adversarial-") as scratch:
        root = Path(scratch)
        (root / "reader").mkdir()
        reader_cases(root / "reader", 30 if quick else 80)
        (root / "folders").mkdir()
        folder_cases(root / "folders", 5 if quick else 20)
        cli_cases(root)
        degenerate_cases(6 if quick else 18)
        (root / "text").mkdir()
        text_cases(root / "text", 2 if quick else 6)
        gallery_cases(root, 2 if quick else 6)
    print(json.dumps({"cases": COUNTS, "failures": len(FAILURES), "seconds": round(time.time() - started)}))
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
