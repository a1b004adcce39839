from __future__ import annotations

import numpy as np
import pytest

import shrinkvis
from shrinkvis import animation, encode, pipeline
from shrinkvis.errors import OutputError

SMALL = ["animation.frames=12", "data.n_cluster=15"]


@pytest.fixture(scope="module")
def small():
    scenario = shrinkvis.load_scenario("baseline", SMALL)
    return scenario, shrinkvis.fit(shrinkvis.simulate(scenario.data), scenario.model)


def test_palette_frames_are_spread_over_the_motion():
    assert animation.palette_frames(np.linspace(0, 1, 120)) == [0, 15, 30, 45, 60, 74, 89, 104, 119]
    assert animation.palette_frames(np.linspace(0, 1, 3)) == [0, 1, 2]
    # a pause at each end and a fast middle: one frame from each pause, the rest from the motion
    progress = np.concatenate([np.zeros(20), np.linspace(0, 1, 9), np.ones(20)])
    assert animation.palette_frames(progress) == [0, 21, 22, 23, 24, 25, 26, 27, 28]


def test_render_writes_the_same_bytes_twice(tmp_path, small):
    scenario, estimates = small
    first = pipeline.render(estimates, scenario, tmp_path / "a")
    second = pipeline.render(estimates, scenario, tmp_path / "b")
    assert set(first) == {"gif", "mp4", "png", "png_start", "svg"}
    for fmt in first:
        assert first[fmt].read_bytes() == second[fmt].read_bytes()


def test_a_failing_encoder_leaves_no_file_behind(tmp_path, small, monkeypatch):
    scenario, estimates = small

    def broken_add(self, frame: np.ndarray) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(encode.Mp4Writer, "add", broken_add)
    with pytest.raises(OutputError, match="disk full"):  # the write error, named with its file
        pipeline.render(estimates, scenario, tmp_path)
    assert list(tmp_path.iterdir()) == []  # neither the finished GIF nor any temporary file


def test_the_notebook_api_takes_the_simulated_frame_for_the_lines_view(tmp_path):
    import shrinkvis

    scenario = shrinkvis.load_scenario(
        "fewer_obs", ["animation.frames=4", "animation.view=lines", "data.n_cluster=20"]
    )
    data = shrinkvis.simulate(scenario.data)
    estimates = shrinkvis.fit(data, scenario.model)
    board = shrinkvis.storyboard(estimates, scenario, data)
    assert board.n_frames == 4
    files = shrinkvis.render(estimates, scenario, tmp_path, ("png",), data=data)
    assert sorted(path.name for path in files.values()) == ["lines.png", "lines_start.png"]
