"""The chat-colour guard: APCA-W3 0.1.9 as published (the reference implementation's own test
values), and the red-weighted score with its refusals and warnings (SPEC §3.8)."""

from __future__ import annotations

import pytest
from economy_plugins.vanity_shop.config import default_palette
from economy_plugins.vanity_shop.contrast import (
    judge,
    lightness_contrast,
    luminance,
    parse_hex,
    to_hex,
)
from hypothesis import given
from hypothesis import strategies as st

BG = (0x11, 0x11, 0x11)


def rgb(text: str) -> tuple[int, int, int]:
    found = parse_hex(text)
    assert found is not None
    return found


@pytest.mark.parametrize(("text", "background", "lc"), [
    ("#888", "#fff", 63.056469930209424),
    ("#fff", "#888", -68.54146436644962),
    ("#000", "#aaa", 58.146262578561334),
    ("#aaa", "#000", -56.24113336839742),
    ("#123", "#def", 91.66830811481631),
    ("#def", "#123", -93.06770049484275),
    ("#123", "#444", 8.32326136957393),
    ("#444", "#123", -7.526878460278154),
])
def test_apca_w3_reference_values(text: str, background: str, lc: float) -> None:
    assert lightness_contrast(rgb(text), rgb(background)) == pytest.approx(lc, abs=1e-9)


def test_same_colours_have_no_contrast() -> None:
    assert lightness_contrast(BG, BG) == 0.0
    assert luminance((255, 255, 255)) == pytest.approx(1.0, abs=1e-6)


def test_hex_parsing() -> None:
    assert parse_hex("#FfD700") == (255, 215, 0) and parse_hex("#abc") == (170, 187, 204)
    for bad in ("FFD700", "#GGGGGG", "#12345", "#1234567", "", "# 123"):
        assert parse_hex(bad) is None
    assert to_hex((1, 2, 255)) == "#0102FF"


def test_the_guard_on_the_default_background() -> None:
    black = judge((0, 0, 0), BG, min_lc=30, warn_lc=40)
    assert black.outcome == "refused" and black.hint == "too dark"
    red = judge((255, 0, 0), BG, min_lc=30, warn_lc=40)
    assert abs(red.lc) >= 30 and red.score == 0 and red.hint == "too red"
    grey = judge(rgb("#777777"), BG, min_lc=30, warn_lc=40)
    assert grey.outcome == "warn" and 30 <= grey.score < 40
    gold = judge(rgb("#FFD700"), BG, min_lc=30, warn_lc=40)
    assert gold.outcome == "ok" and gold.hint == ""
    pale = judge(rgb("#EEEEEE"), (255, 255, 255), min_lc=30, warn_lc=40)
    assert pale.outcome == "refused" and pale.hint == "too light"


def test_the_palette_is_valid_hex() -> None:
    assert all(parse_hex(c.hex) is not None for c in default_palette())


@given(st.tuples(*(st.integers(0, 255),) * 3))
def test_the_score_never_exceeds_the_lightness_contrast(colour: tuple[int, int, int]) -> None:
    verdict = judge(colour, BG, min_lc=30, warn_lc=40)
    assert 0 <= verdict.score <= abs(verdict.lc) + 1e-9
    assert (verdict.outcome == "refused") == (verdict.score < 30)
