from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shrinkvis import gallery, load_scenario, run
from shrinkvis.cli import app
from shrinkvis.errors import UserError

runner = CliRunner()
TINY = ["animation.frames=4", "data.n_cluster=12", "animation.width=320", "animation.height=240"]


class Page(HTMLParser):
    """The tags of a page with their attributes, and the text inside each <article>."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.articles: list[str] = []
        self.style = ""
        self._in_article = 0
        self._in_style = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {key: value or "" for key, value in attrs}))
        if tag == "article":
            self._in_article += 1
            self.articles.append("")
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "article":
            self._in_article -= 1
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_article:
            self.articles[-1] += data
        if self._in_style:
            self.style += data

    def attributes(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.tags if name == tag]

    def links(self) -> list[str]:
        return [attrs[key] for _, attrs in self.tags for key in ("href", "src", "poster") if key in attrs]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    """One real scenario folder (tiny), copied by the tests into the layouts they need."""
    root = tmp_path_factory.mktemp("rendered")
    run(load_scenario("baseline", TINY), root)
    return root / "baseline"


def _copy(rendered: Path, root: Path, folder: str, **summary_changes) -> Path:
    target = root / folder
    shutil.copytree(rendered, target)
    summary = json.loads((target / "summary.json").read_text())
    summary["warnings"] = []
    summary["is_singular"] = False
    summary["converged"] = True
    scenario = summary["scenario"]
    for key, value in summary_changes.items():
        if key in ("title", "description", "name"):
            scenario[key] = value
        else:
            summary[key] = value
    (target / "summary.json").write_text(json.dumps(summary))
    return target


@pytest.fixture
def out_root(rendered, tmp_path) -> Path:
    root = tmp_path / "out"
    _copy(rendered, root, "alpha", title="Alpha")
    _copy(rendered, root, "beta", title="Beta", is_singular=True)
    _copy(rendered, root, "gamma", title="Gamma", converged=False)
    return root


def _card(page: Page, title: str) -> str:
    (text,) = [text for text in page.articles if text.strip().startswith(title)]
    return text


def test_one_card_per_scenario_in_folder_order(out_root):
    (out_root / "not_a_scenario").mkdir()  # a folder without summary.json is not a scenario
    (out_root / "notes.txt").write_text("x")
    page = Page(gallery.build(out_root))
    cards = page.attributes("article")
    assert [card["id"] for card in cards] == ["scenario-alpha", "scenario-beta", "scenario-gamma"]
    assert [text.strip().split()[0] for text in page.articles] == ["Alpha", "Beta", "Gamma"]
    # the comparison table links each name to its card
    table_links = [attrs["href"] for attrs in page.attributes("a") if attrs["href"].startswith("#")]
    assert table_links == ["#scenarios", "#scenario-alpha", "#scenario-beta", "#scenario-gamma"]


def test_links_are_relative_and_point_at_files(out_root):
    page = Page(gallery.build(out_root))
    links = page.links()
    assert links
    for link in links:
        assert "://" not in link and not link.startswith(("/", "//", "data:")), link
        if not link.startswith("#"):
            assert (out_root / link).is_file(), link
    # every file of every scenario is linked
    for folder in ("alpha", "beta", "gamma"):
        for path in (out_root / folder).iterdir():
            assert f"{folder}/{path.name}" in links


def test_no_external_assets(out_root):
    text = gallery.build(out_root)
    page = Page(text)
    assert page.attributes("link") == []
    assert page.attributes("iframe") == []
    assert all("src" not in attrs for attrs in page.attributes("script"))
    assert page.style.strip()  # the CSS is inline
    assert "url(" not in page.style and "@import" not in page.style
    assert "prefers-color-scheme: dark" in page.style
    assert ":focus-visible" in page.style


def test_media_and_alt_text(out_root):
    page = Page(gallery.build(out_root))
    images = page.attributes("img")
    videos = page.attributes("video")
    # per card: the MP4 as a looping video; the GIF and the final still as images
    assert [video["src"] for video in videos] == [
        f"{name}/shrinkage.mp4" for name in ("alpha", "beta", "gamma")
    ]
    for video in videos:
        assert {"autoplay", "muted", "loop", "playsinline", "controls"} <= set(video)
        assert (video["width"], video["height"]) == ("320", "240")
    assert sorted(image["src"] for image in images) == sorted(
        f"{name}/{stem}"
        for name in ("alpha", "beta", "gamma")
        for stem in (
            "shrinkage.gif",
            "shrinkage.png",
            "shrinkage_start.png",
            "shrinkage.svg",
            "shrinkage_by_size.png",
        )
    )
    for image in images:
        title = image["src"].split("/")[0].capitalize()
        assert image["alt"].startswith(title), image
    for video in videos:
        assert video["aria-label"].startswith(video["src"].split("/")[0].capitalize())


def test_start_still_and_other_views_are_shown(out_root):
    folder = out_root / "alpha"
    shutil.copy(folder / "shrinkage.png", folder / "shrinkage_start.png")
    shutil.copy(folder / "shrinkage.png", folder / "caterpillar.png")
    (folder / ".summary.json.x1.part").write_text("{")  # a write in progress is not a file yet
    page = Page(gallery.build(out_root))
    sources = [image["src"] for image in page.attributes("img")]
    assert "alpha/shrinkage_start.png" in sources and "alpha/caterpillar.png" in sources
    assert not any(".part" in link for link in page.links())
    card = _card(page, "Alpha")
    assert "Start" in card and "End" in card and "caterpillar" in card
    (start,) = [image for image in page.attributes("img") if image["src"] == "alpha/shrinkage_start.png"]
    assert "first frame" in start["alt"] and "no pooling" in start["alt"]


def test_warnings_for_singular_and_non_converged_fits(out_root):
    page = Page(gallery.build(out_root))
    assert "⚠" not in _card(page, "Alpha")
    assert "Singular fit" in _card(page, "Beta") and "Did not converge" not in _card(page, "Beta")
    assert "Did not converge" in _card(page, "Gamma") and "Singular fit" not in _card(page, "Gamma")
    notes = [attrs for attrs in page.attributes("div") if attrs.get("class") == "warning"]
    assert len(notes) == 2


def test_the_fit_s_own_warning_text_is_shown(rendered, tmp_path):
    message = "singular fit: the model has more random-effect structure than the data support"
    _copy(rendered, tmp_path, "delta", title="Delta", is_singular=True, warnings=[message, "something else"])
    card = _card(Page(gallery.build(tmp_path)), "Delta")
    # under its headline, without saying "singular fit" twice
    assert card.count("Singular fit: The model has more random-effect structure than the data support") == 1
    assert "singular fit:" not in card.lower().replace("⚠ singular fit:", "")
    assert "something else" in card


def test_titles_and_descriptions_are_escaped(rendered, tmp_path):
    title = '<b>Tom & "Jerry"</b>'
    _copy(rendered, tmp_path, "odd", title=title, description="<script>alert(1)</script>")
    text = gallery.build(tmp_path)
    assert "<b>" not in text and "<script>alert" not in text
    assert "&lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt;" in text
    page = Page(text)
    assert _card(page, title).startswith(title)  # the parser decodes it back to the plain title
    assert all(image["alt"].startswith(title) for image in page.attributes("img"))
    assert [attrs for attrs in page.attributes("script") if attrs] == []


def test_key_numbers_are_shown(out_root):
    summary = json.loads((out_root / "alpha" / "summary.json").read_text())
    card = _card(Page(gallery.build(out_root)), "Alpha")
    assert f"intercept {gallery.fmt(summary['fixed_effects']['Intercept'])}" in card
    assert f"slope {gallery.fmt(summary['fixed_effects']['x'])}" in card
    assert f"intercept {gallery.fmt(summary['sd_intercept'])}" in card
    assert f"Residual SD{gallery.fmt(summary['residual_sd'])}" in card
    assert "12 clusters, 120 rows" in card
    assert "Average shrinkage" in card


def test_average_shrinkage_is_the_share_of_distance_removed(tmp_path):
    path = tmp_path / "estimates.csv"
    path.write_text(
        "cluster,n,no_pool_intercept,no_pool_slope,partial_intercept,partial_slope\n"
        "a,5,2,1,1.5,0.5\n"  # intercept: 1 from the fixed effect, then 0.5
        "b,5,0,0,0.5,0\n"  # intercept: 1, then 0.5; slope: 0.5, then 0.5
        "c,1,,,3,9\n"  # no own estimate: left out
    )
    shrinkage = gallery.average_shrinkage(path, {"Intercept": 1.0, "x": 0.5})
    assert shrinkage["intercept"] == pytest.approx(0.5)
    assert shrinkage["slope"] == pytest.approx(1 - 0.5 / 1.0)
    assert gallery.average_shrinkage(tmp_path / "missing.csv", {"Intercept": 1.0}) == {
        "intercept": None,
        "slope": None,
    }


def test_numbers_are_formatted_for_reading():
    assert gallery.fmt(1.0003) == "1.00"
    assert gallery.fmt(-0.36) == "−0.360"
    assert gallery.fmt(None) == "—" and gallery.fmt(float("nan")) == "—"
    assert gallery.fmt_count(10000) == "10\u202f000"
    assert gallery.fmt_share(0.216) == "22\u00a0%"
    assert gallery.fmt_bytes(716_664) == "717 kB" and gallery.fmt_bytes(1_720) == "1.7 kB"


def test_an_unreadable_summary_gets_a_card_with_a_warning(rendered, tmp_path):
    folder = _copy(rendered, tmp_path, "broken")
    (folder / "summary.json").write_text("{not json")
    card = _card(Page(gallery.build(tmp_path)), "broken")
    assert "Incomplete outputs" in card and "summary.json could not be read" in card


def test_write_is_atomic_and_a_folder_without_scenarios_is_a_user_error(out_root, tmp_path):
    target = gallery.write(out_root)
    assert target == out_root / "index.html"
    assert sorted(path.name for path in out_root.iterdir() if path.is_file()) == ["index.html"]
    with pytest.raises(UserError, match="no scenario outputs"):
        gallery.build(tmp_path / "out" / "alpha")
    with pytest.raises(UserError, match="no such folder"):
        gallery.build(tmp_path / "nowhere")


def test_gallery_command(out_root, tmp_path):
    result = runner.invoke(app, ["gallery", str(out_root)])
    assert result.exit_code == 0, result.output
    assert (out_root / "index.html").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["gallery", str(empty)])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and "no scenario outputs" in result.output


def test_batch_writes_the_gallery(tmp_path):
    args = ["batch", "fewer_obs", "--out", str(tmp_path), "--format", "png"]
    result = runner.invoke(app, args + [arg for item in TINY for arg in ("--set", item)])
    assert result.exit_code == 0, result.output
    page = Page((tmp_path / "index.html").read_text())
    assert [attrs["id"] for attrs in page.attributes("article")] == ["scenario-fewer_obs"]
    assert [image["src"] for image in page.attributes("img")] == [
        "fewer_obs/shrinkage.png",
        "fewer_obs/shrinkage_start.png",
        "fewer_obs/shrinkage_by_size.png",
    ]


@pytest.mark.parametrize(
    "broken",
    [
        "not json",
        "[1, 2]",
        '{"scenario": "baseline"}',
        '{"scenario": {"animation": "small"}}',
        '{"warnings": 5, "converged": false}',
        '{"fixed_effects": [1, 2]}',
        '{"scenario": {"title": {"x": 1}, "animation": {"width": 1e999, "view": []}}, "n_groups": "many"}',
        "[" * 100_000 + "]" * 100_000,  # deeper than Python's parser goes: RecursionError
        '{"scenario": ' + '{"a": ' * 5_000 + "1" + "}" * 5_001,  # parsed, deeper than any summary
        '{"warnings": [' + "[" * 3_000 + "]" * 3_000 + "]}",
    ],
)
def test_one_malformed_summary_costs_its_card_only(rendered, tmp_path, broken):
    _copy(rendered, tmp_path, "good", title="Good one")
    bad = _copy(rendered, tmp_path, "bad")
    (bad / "summary.json").write_text(broken)
    result = runner.invoke(app, ["gallery", str(tmp_path)])
    assert result.exit_code == 0, result.output
    articles = Page((tmp_path / "index.html").read_text()).articles
    assert len(articles) == 2
    good = next(text for text in articles if "Good one" in text)
    assert "shrinkage.gif" in good and "summary.json" not in good.split("Files")[0]
    bad_card = next(text for text in articles if "Good one" not in text)
    if broken.startswith('{"scenario": {"title"'):  # every section has its shape: shown, with dashes
        assert "— clusters, — rows" in bad_card
    else:
        assert "Incomplete outputs: summary.json" in bad_card


@pytest.mark.parametrize(
    ("summary", "headline", "detail"),
    [
        (
            {
                "is_singular": True,
                "warnings": ["singular fit: the slopes' SD is 0, more structure than the data support"],
            },
            "Singular fit",
            "The slopes' SD is 0, more structure than the data support",
        ),
        (
            {
                "converged": False,
                "warnings": ["the exact fit did not converge (largest gradient 0.1); try fewer"],
            },
            "Did not converge",
            "The exact fit did not converge (largest gradient 0.1); try fewer",
        ),
    ],
)
def test_a_card_warning_does_not_say_its_headline_twice(summary, headline, detail):
    (warning,) = gallery.fit_warnings(summary)
    assert (warning.headline, warning.detail) == (headline, detail)
    assert not warning.detail.lower().startswith(headline.lower())


def test_a_missing_folder_or_a_file_is_one_line_in_words(tmp_path):
    with pytest.raises(
        UserError, match=r"nope: no such folder; give the folder a batch wrote into \(its --out\)"
    ):
        gallery.build(tmp_path / "nope")
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match=r"file: is a file, not a folder; give the folder"):
        gallery.build(tmp_path / "file")
