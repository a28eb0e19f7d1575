"""Camera and light a model was never trained on: deterministic image shifts.

A detector fine-tuned on one store's photos has seen one camera, one white balance and one
light. The stores it will meet differ first in exactly those: warm or cool LED strips, a
camera's white balance and exposure, sensor noise, JPEG, focus, the glare of a glass door. The
shifts here apply them to any RGB frame, one at a time at a fixed strength
(:data:`SHIFTS`, what ``bench/vision_real.py`` measures a model under) or drawn at random
(:func:`random_shift`, what training copies of real photos are made with). Only photometric
changes: a photo's boxes stay where they are, so its labels hold.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter


@dataclass(frozen=True)
class Shift:
    """One imaging change. ``gains``: white balance / light colour per channel (R, G, B);
    ``exposure``: a gain on linear light; ``noise``: sensor noise sigma (grey levels); ``jpeg``:
    quality (0: none); ``blur``: Gaussian radius (px); ``glare``: a glass door's reflection, the
    share of a bright veil and band laid over the frame (0..1)."""

    name: str = "none"
    gains: tuple[float, float, float] = (1.0, 1.0, 1.0)
    exposure: float = 1.0
    noise: float = 0.0
    jpeg: int = 0
    blur: float = 0.0
    glare: float = 0.0

    def __post_init__(self) -> None:
        if min(self.gains) <= 0 or self.exposure <= 0 or self.noise < 0 or self.blur < 0:
            raise ValueError(f"invalid shift {self}")
        if not 0 <= self.jpeg <= 100 or not 0 <= self.glare < 1:
            raise ValueError(f"invalid shift {self}")


# Fixed strengths, each one change: what a store's camera and light can plausibly do.
SHIFTS: dict[str, Shift] = {
    s.name: s
    for s in (
        Shift("none"),
        Shift("warm_light", gains=(1.15, 1.0, 0.72)),  # ~3000 K LED strips, white balance not corrected
        Shift("cool_light", gains=(0.82, 0.97, 1.2)),  # ~8000 K, a camera balanced for warm light
        Shift("dim", exposure=0.5),
        Shift("bright", exposure=1.7),
        Shift("noise", noise=14.0),
        Shift("jpeg", jpeg=20),
        Shift("blur", blur=2.0),
        Shift("glass_glare", glare=0.35),
    )
}


def _to_linear(rgb: np.ndarray) -> np.ndarray:
    return (rgb.astype(np.float32) / 255.0) ** 2.2  # a plain gamma: enough for light and gains


def _to_srgb(linear: np.ndarray) -> np.ndarray:
    return np.clip(linear, 0.0, 1.0) ** (1 / 2.2) * 255.0


def _glare(arr: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """A veil (the glass lowers contrast) and a soft diagonal band (a light reflected in it)."""
    h, w = arr.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = float(rng.uniform(0.3, 1.2))
    offset = float(rng.uniform(0.2, 0.8)) * (w * np.cos(angle) + h * np.sin(angle))
    dist = xx * np.cos(angle) + yy * np.sin(angle) - offset
    band = np.exp(-((dist / (0.12 * max(h, w))) ** 2))[..., None]
    veil = strength * 0.6 + strength * band
    return arr * (1 - veil) + 255.0 * veil


def apply_shift(rgb: np.ndarray, shift: Shift, rng: np.random.Generator | None = None) -> np.ndarray:
    """The frame as that camera / light would give it (RGB uint8 in, RGB uint8 out, same size).
    ``rng`` draws the noise and the glare's band; the default seed makes a shift repeatable."""
    if shift == SHIFTS["none"]:
        return rgb
    rng = rng if rng is not None else np.random.default_rng(0)
    arr = rgb.astype(np.float32)
    if shift.gains != (1.0, 1.0, 1.0) or shift.exposure != 1.0:
        linear = _to_linear(rgb) * np.asarray(shift.gains, np.float32) * shift.exposure
        arr = _to_srgb(linear)
    if shift.glare > 0:
        arr = _glare(arr, shift.glare, rng)
    if shift.blur > 0:
        img = Image.fromarray(arr.clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(shift.blur))
        arr = np.asarray(img).astype(np.float32)
    if shift.noise > 0:
        arr = arr + rng.normal(0.0, shift.noise, arr.shape).astype(np.float32)
    out = arr.clip(0, 255).round().astype(np.uint8)
    if shift.jpeg:
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, format="JPEG", quality=shift.jpeg)
        out = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return out


def random_shift(rng: np.random.Generator) -> Shift:
    """A camera and light drawn at random, milder to stronger than :data:`SHIFTS` (several at once)."""
    kelvin = float(rng.uniform(-1.0, 1.0))  # -1 warm .. +1 cool
    gains = (1.0 - 0.18 * kelvin, 1.0 - 0.03 * abs(kelvin), 1.0 + 0.2 * kelvin)
    return Shift(
        name="random",
        gains=tuple(float(g) for g in gains),  # type: ignore[arg-type]
        exposure=float(np.exp(rng.uniform(np.log(0.5), np.log(1.7)))),
        noise=float(rng.uniform(0.0, 12.0)),
        jpeg=int(rng.integers(25, 96)),
        blur=float(rng.uniform(0.0, 1.6)) if rng.random() < 0.5 else 0.0,
        glare=float(rng.uniform(0.05, 0.3)) if rng.random() < 0.3 else 0.0,
    )
