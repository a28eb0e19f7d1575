"""Render realism painted in image space: printed packaging on containers, a real camera's look.

The simulator's containers are flat colours; real packaging is covered in print (text, logos,
barcodes), and real cameras add white balance, exposure, glare and compression the renders do
not have. A detector that learnt "flat colour" as "container" meets shelves of print; one that
never saw a warm LED strip or a glass door's glare meets them in every store. Both are added
here after the render, from the segmentation render (so the print stays on each container's
visible pixels, behind whatever hides it), and leave every label where it was.

Pure image code (numpy, Pillow); the generator (restock.sim.dataset_render) calls it with its
own random stream, so a dataset with and without realism has the same scenes.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from restock.vision.imaging import apply_shift, random_shift

_GLYPHS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 %-"


def _ink(rng: np.random.Generator, base: np.ndarray) -> tuple[int, int, int]:
    """A print colour that stands out on ``base`` (dark on light, light on dark, or a strong hue)."""
    if rng.random() < 0.4:
        return tuple(int(v) for v in rng.integers(0, 256, 3))  # type: ignore[return-value]
    light = float(base.mean()) > 110
    level = int(rng.integers(0, 60)) if light else int(rng.integers(200, 256))
    return (level, level, level)


def _print_tile(width: int, height: int, base: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """One package's print on its colour: a logo blob, a brand line, small text and sometimes a barcode."""
    tile = Image.new("RGB", (width, height), tuple(int(v) for v in base))
    draw = ImageDraw.Draw(tile)
    font = ImageFont.load_default()  # Pillow's built-in bitmap font: nothing is read or downloaded
    if rng.random() < 0.8:  # a logo: an ellipse or a band across the label
        x0, y0 = rng.uniform(0, 0.5) * width, rng.uniform(0, 0.6) * height
        x1, y1 = x0 + rng.uniform(0.3, 0.9) * width, y0 + rng.uniform(0.15, 0.4) * height
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x0, y0, x1, y1), fill=_ink(rng, base))
    y = float(rng.uniform(0, 0.3)) * height
    while y < height:
        text = "".join(rng.choice(list(_GLYPHS), size=int(rng.integers(3, 12))))
        draw.text((float(rng.uniform(-0.1, 0.3)) * width, y), text, fill=_ink(rng, base), font=font)
        y += float(rng.uniform(9, 18))
    if rng.random() < 0.5 and width >= 8 and height >= 8:  # a barcode: black bars on white
        bw, bh = max(6, int(width * rng.uniform(0.3, 0.6))), max(4, int(height * rng.uniform(0.1, 0.25)))
        bx, by = int(rng.integers(0, max(1, width - bw))), int(rng.integers(0, max(1, height - bh)))
        draw.rectangle((bx, by, bx + bw, by + bh), fill=(245, 245, 245))
        x = bx + 1
        while x < bx + bw - 1:
            bar = int(rng.integers(1, 3))
            if rng.random() < 0.55:
                draw.rectangle((x, by + 1, x + bar - 1, by + bh - 1), fill=(15, 15, 15))
            x += bar
    return tile


def print_packaging(
    rgb: np.ndarray, seg: np.ndarray, object_ids: list[int], rng: np.random.Generator, strength: float = 0.85
) -> np.ndarray:
    """``rgb`` with print laid over each object's visible pixels (``seg == id``), shaded by the
    render so its light and shadow stay; ``strength`` blends print over the flat colour."""
    out = rgb.astype(np.float32)
    for oid in object_ids:
        mask = seg == oid
        ys, xs = np.nonzero(mask)
        if xs.size < 30:
            continue
        x1, y1, x2, y2 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        patch = out[y1:y2, x1:x2]
        m = mask[y1:y2, x1:x2]
        base = np.median(patch[m], axis=0)
        tile = np.asarray(_print_tile(x2 - x1, y2 - y1, base, rng), np.float32)
        # The render's shading (light, shadow, the lane's depth) carried onto the print.
        shade = patch.mean(axis=2, keepdims=True) / max(float(base.mean()), 1.0)
        printed = np.clip(tile * np.clip(shade, 0.2, 2.0), 0, 255)
        blend = strength * m[..., None]
        out[y1:y2, x1:x2] = patch * (1 - blend) + printed * blend
    return out.clip(0, 255).round().astype(np.uint8)


def camera_look(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A real camera and light drawn at random: white balance / LED colour temperature, exposure,
    noise, JPEG, focus and a glass door's glare (restock.vision.imaging.random_shift)."""
    return apply_shift(rgb, random_shift(rng), rng)
