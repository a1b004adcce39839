"""The files themselves: they decode as promised, and the same input gives the same bytes."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import av
import pytest
from PIL import Image

from shrinkvis import pipeline, scenario

# odd sizes on purpose: the MP4 must still come out with even dimensions
SETTINGS = [
    "data.n_cluster=12",
    "animation.frames=12",
    "animation.fps=30",
    "animation.width=301",
    "animation.height=201",
]
SETTINGS_TEXT = [part for setting in SETTINGS for part in ("--set", setting)]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    """The same scenario rendered here and in a fresh process with another hash seed."""
    first = tmp_path_factory.mktemp("first")
    second = tmp_path_factory.mktemp("second")
    pipeline.run(scenario.load("unbalanced", SETTINGS), first)
    subprocess.run(
        [sys.executable, "-m", "shrinkvis", "run", "unbalanced", "--out", str(second), *SETTINGS_TEXT],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONHASHSEED": "12345", "PYTHONWARNINGS": "ignore"},
    )
    return first / "unbalanced", second / "unbalanced"


@pytest.mark.parametrize("name", ["shrinkage.gif", "shrinkage.mp4", "shrinkage.png", "estimates.csv"])
def test_same_input_same_bytes(two_runs, name):
    first, second = two_runs
    assert (first / name).read_bytes() == (second / name).read_bytes()


def test_summary_differs_only_in_timings(two_runs):
    first, second = (json.loads((folder / "summary.json").read_text()) for folder in two_runs)
    assert set(first["timings"]) >= {"simulate", "fit", "render"}
    assert all(seconds >= 0 for seconds in first["timings"].values())
    first.pop("timings"), second.pop("timings")
    assert first == second
    # and the bytes around the timings are the same too: the key order and number format are fixed
    texts = [(folder / "summary.json").read_text() for folder in two_runs]
    assert [text[: text.index('"timings"')] for text in texts] == [
        texts[0][: texts[0].index('"timings"')]
    ] * 2


def test_gif_decodes_loops_forever_and_lasts_frames_over_fps(two_runs):
    with Image.open(two_runs[0] / "shrinkage.gif") as gif:
        assert gif.size == (301, 201)
        assert gif.info["loop"] == 0
        durations = []
        for index in range(gif.n_frames):
            gif.seek(index)
            gif.load()
            durations.append(gif.info["duration"])
        assert "comment" not in gif.info
    # 12 frames at 30 fps: 400 ms, in GIF's 10 ms steps (identical neighbours merged into one)
    assert sum(durations) == 400
    assert 2 <= len(durations) <= 12
    assert all(duration >= 20 for duration in durations)  # browsers slow down anything shorter


def _top_level_boxes(path: Path) -> list[str]:
    boxes, data, position = [], path.read_bytes(), 0
    while position < len(data):
        size, kind = struct.unpack(">I4s", data[position : position + 8])
        if size == 1:
            size = struct.unpack(">Q", data[position + 8 : position + 16])[0]
        boxes.append(kind.decode("ascii"))
        position += size if size else len(data)
    return boxes


def test_mp4_is_h264_yuv420p_even_sized_fast_start_and_undated(two_runs):
    path = two_runs[0] / "shrinkage.mp4"
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.codec_context.width, stream.codec_context.height) == (300, 200)
        frames = list(container.decode(stream))
        assert len(frames) == 12
        assert frames[-1].time == pytest.approx(11 / 30)
    boxes = _top_level_boxes(path)
    assert boxes.index("moov") < boxes.index("mdat")  # the index first: plays while downloading
    data = path.read_bytes()
    mvhd = data.index(b"mvhd")
    version = data[mvhd + 4]
    created, modified = struct.unpack(
        ">QQ" if version else ">II", data[mvhd + 8 : mvhd + (24 if version else 16)]
    )
    assert (created, modified) == (0, 0)


def test_png_decodes_at_the_requested_size_without_a_timestamp(two_runs):
    path = two_runs[0] / "shrinkage.png"
    with Image.open(path) as still:
        assert still.size == (301, 201)
        assert still.mode == "RGB"
        still.load()
    data = path.read_bytes()
    assert b"tIME" not in data and b"tEXt" not in data
