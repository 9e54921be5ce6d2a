"""The chat-colour guard: APCA-W3 0.1.9 lightness contrast, weighted against pure reds (SPEC §3.8).

**APCA-W3 0.1.9** (Accessible Perceptual Contrast Algorithm, contrast prediction equation
0.0.98G-4g-base-W3, as published by its author for WCAG 3): each sRGB colour becomes a screen
luminance ``Y = 0.2126729·(R/255)^2.4 + 0.7151522·(G/255)^2.4 + 0.0721750·(B/255)^2.4``;
luminances below 0.022 are soft-clamped (``Y + (0.022 − Y)^1.414``); then, with ``Ybg`` the
background and ``Ytxt`` the text,

- normal polarity (``Ybg > Ytxt``, dark text on light): ``S = (Ybg^0.56 − Ytxt^0.57) × 1.14``,
  ``Lc = 0`` if ``S < 0.1`` else ``(S − 0.027) × 100``;
- reverse polarity (light text on dark): ``S = (Ybg^0.65 − Ytxt^0.62) × 1.14``,
  ``Lc = 0`` if ``S > −0.1`` else ``(S + 0.027) × 100``;
- ``|Ybg − Ytxt| < 0.0005`` → 0.

So #888888 text on #FFFFFF is Lc 63.06 and #FFFFFF on #888888 is Lc −68.54 (the reference
implementation's own test values; the tests check them).

**The guard** (hex colours only; palette colours are pre-approved): ``score = |Lc(colour over
contrast_bg)| × min(G + B, 160) / 160`` — a colour with little green and blue (a deep red) loses
score even when its luminance contrast would pass, because red text on a dark background reads
badly. Below ``min_contrast_lc`` the colour is refused (nothing charged) with a hint: "too red"
when the red weighting is what sank it, else "too dark" on a dark background ("too light" on a
light one: the colour must move away from the background);
below ``warn_contrast_lc`` it is accepted with a warning.
"""

from __future__ import annotations

import re
from typing import Literal

import attrs

_HEX = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")

MAIN_TRC = 2.4
R_CO, G_CO, B_CO = 0.2126729, 0.7151522, 0.0721750
NORM_BG, NORM_TXT, REV_TXT, REV_BG = 0.56, 0.57, 0.62, 0.65
BLK_THRS, BLK_CLMP = 0.022, 1.414
SCALE_BOW = SCALE_WOB = 1.14
LO_BOW_OFFSET = LO_WOB_OFFSET = 0.027
DELTA_Y_MIN = 0.0005
LO_CLIP = 0.1
RED_WEIGHT_FULL = 160
"""G + B at or above this keeps the whole score; below it the score shrinks in proportion."""

RGB = tuple[int, int, int]

MID_GREY_Y = (128 / 255.0) ** MAIN_TRC
"""A background at least this luminous is light: a failing colour there is "too light"."""


def parse_hex(text: str) -> RGB | None:
    """``#RGB`` or ``#RRGGBB`` (any case) as (r, g, b); None for anything else."""
    if not _HEX.fullmatch(text.strip()):
        return None
    digits = text.strip()[1:]
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def to_hex(rgb: RGB) -> str:
    """(r, g, b) as ``#RRGGBB`` (upper case)."""
    return "#{:02X}{:02X}{:02X}".format(*rgb)


def luminance(rgb: RGB) -> float:
    """APCA's screen luminance Y of an sRGB colour (0 … 1)."""
    r, g, b = (float((c / 255.0) ** MAIN_TRC) for c in rgb)
    return R_CO * r + G_CO * g + B_CO * b


def _soft_clamp(y: float) -> float:
    return y if y > BLK_THRS else y + float((BLK_THRS - y) ** BLK_CLMP)


def lightness_contrast(text: RGB, background: RGB) -> float:
    """APCA-W3 0.1.9 Lc of ``text`` over ``background``: positive for dark text on a light
    background, negative for light text on a dark one, 0 when too close to tell."""
    y_txt = _soft_clamp(luminance(text))
    y_bg = _soft_clamp(luminance(background))
    if abs(y_bg - y_txt) < DELTA_Y_MIN:
        return 0.0
    if y_bg > y_txt:
        sapc = (y_bg ** NORM_BG - y_txt ** NORM_TXT) * SCALE_BOW
        return 0.0 if sapc < LO_CLIP else (sapc - LO_BOW_OFFSET) * 100.0
    sapc = (y_bg ** REV_BG - y_txt ** REV_TXT) * SCALE_WOB
    return 0.0 if sapc > -LO_CLIP else (sapc + LO_WOB_OFFSET) * 100.0


@attrs.frozen
class Verdict:
    """What the guard says about a colour: its ``score`` (weighted |Lc|), and ``outcome``
    "ok", "warn" or "refused" with a ``hint`` ("too dark", "too light", "too red") when not
    ok."""

    score: float
    lc: float
    outcome: Literal["ok", "warn", "refused"]
    hint: str = ""


def judge(colour: RGB, background: RGB, *, min_lc: float, warn_lc: float) -> Verdict:
    """The guard (module docstring) for ``colour`` on ``background``."""
    lc = lightness_contrast(colour, background)
    weight = min(colour[1] + colour[2], RED_WEIGHT_FULL) / RED_WEIGHT_FULL
    score = abs(lc) * weight
    if score >= warn_lc:
        return Verdict(score, lc, "ok")
    outcome: Literal["warn", "refused"] = "refused" if score < min_lc else "warn"
    needed = min_lc if outcome == "refused" else warn_lc
    if weight < 1.0 and abs(lc) >= needed:
        hint = "too red"  # its lightness would do; the missing green and blue sink it
    elif luminance(background) >= MID_GREY_Y:
        hint = "too light"  # on a light background only a darker colour helps
    else:
        hint = "too dark"
    return Verdict(score, lc, outcome, hint)
