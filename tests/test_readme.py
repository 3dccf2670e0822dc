"""The README a student scans, and the documents it links, tell the truth.

Each document is rendered to HTML (mistune, as a Markdown viewer would) and every
picture and relative link in it must exist in the repository; the README's pictures
stay small, show every shipped agent, and the agents' headline scores are the ones in
their checkpoints' metadata. No document points outside the repository.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ["README.md", "INSTRUCTORS.md", "CONTRIBUTING.md", "STYLE.md"]
MAX_MEDIA_BYTES = 1_000_000
README_WORDS = 1_000  # before the instructors' section: a student scans it
mistune = pytest.importorskip("mistune", reason="renders Markdown (comes with the lab)")


class _References(HTMLParser):
    """``<img src>`` and ``<a href>`` of a rendered document."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])


def _references(name: str) -> _References:
    found = _References()
    found.feed(mistune.html((ROOT / name).read_text(encoding="utf-8")))
    return found


def _local(reference: str) -> bool:
    parsed = urlparse(reference)
    return not parsed.scheme and not parsed.netloc and not reference.startswith("#")


def _target(document: str, reference: str) -> Path:
    path = unquote(urlparse(reference).path)
    return ((ROOT / document).parent / path).resolve()


@pytest.mark.parametrize("document", DOCS)
def test_every_picture_and_relative_link_exists(document):
    found = _references(document)
    assert found.links, f"{document} rendered without links: was it read?"
    for reference in found.images + found.links:
        if not _local(reference):
            continue
        target = _target(document, reference)
        assert ROOT in target.parents, f"{document}: {reference} leaves the repository"
        assert target.exists(), f"{document}: {reference} does not exist"


@pytest.mark.parametrize("document", DOCS)
def test_no_document_points_outside_the_repository(document):
    text = (ROOT / document).read_text(encoding="utf-8")
    assert "../shared" not in text and "/work/" not in text, document


def _media_clips() -> dict:
    """``tools/readme_media.py``'s clips (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "readme_media", ROOT / "tools" / "readme_media.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module.CLIPS


def test_the_readme_shows_every_shipped_agent_in_small_pictures():
    images = [src for src in _references("README.md").images if _local(src)]
    assert images
    for src in images:
        size = _target("README.md", src).stat().st_size
        assert size < MAX_MEDIA_BYTES, f"{src}: {size} bytes; keep it well under 1 MB"
    clips = _media_clips()
    shipped = sorted(p.name for p in (ROOT / "data" / "checkpoints").glob("*.pt"))
    assert sorted(clip.checkpoint for clip in clips.values()) == shipped
    for name in clips:
        assert f"docs/media/{name}.gif" in images, f"the README does not show {name}"


def _metadata(name: str) -> dict:
    path = ROOT / "data" / "checkpoints" / f"{name}.pt.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _readme_numbers() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8").replace("−", "-")


@pytest.mark.parametrize(
    "checkpoint, score",
    [
        ("mountaincar_dqn", ("evaluation", "mean")),
        ("spaceinvaders_ram_dqn", ("evaluation", "mean")),
        ("snake_dqn", ("evaluation", "score", "mean")),  # apples, not the return
        ("bipedalwalker_selective_memory", ("evaluation", "mean")),
    ],
)
def test_the_headline_scores_are_the_checkpoints(checkpoint, score):
    value = _metadata(checkpoint)
    for key in score:
        value = value[key]
    assert f"**{value:.1f}**" in _readme_numbers(), (
        f"the README's headline score for {checkpoint} is not its metadata's "
        f"{'.'.join(score)} = {value:.1f}"
    )
    evaluation = _metadata(checkpoint)["evaluation"]
    assert evaluation["episodes"] == 100, "the README says 100 test episodes"


def test_the_readme_stays_short_before_the_instructors_section():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    student_part = re.split(r"^## For instructors", text, flags=re.MULTILINE)[0]
    assert len(student_part.split()) <= README_WORDS
    for command in ("git clone", "make lab", "make test"):
        assert command in student_part, command
