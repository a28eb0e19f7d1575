"""JPEG encoding of a 640x480 camera frame for the operator stream: Pillow (libjpeg-turbo) per quality.

    .venv/bin/python bench/teleop_jpeg.py [--frames 200]

Prints ms per frame and kB per frame on a rendered-looking image (smooth gradients, edges, a
little noise). At 30 fps the encoder has 33 ms per frame; the stream needs it well under that.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from restock.convert import encode_jpeg


def scene() -> np.ndarray:
    y, x = np.mgrid[0:480, 0:640]
    img = np.stack([x * 255 // 640, y * 255 // 480, (x + y) * 255 // 1120], axis=-1).astype(np.uint8)
    for i in range(8):  # bottle-like bars with hard edges
        img[120:400, 40 + i * 75 : 90 + i * 75] = (30 * i, 200 - 20 * i, 90)
    noise = np.random.default_rng(0).integers(-6, 7, img.shape)
    return np.clip(img.astype(int) + noise, 0, 255).astype(np.uint8)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=200)
    args = ap.parse_args()
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]))
    img = scene()
    for quality in (60, 80, 90):
        encode_jpeg(img, quality)
        t = time.perf_counter()
        for _ in range(args.frames):
            data = encode_jpeg(img, quality)
        ms = (time.perf_counter() - t) / args.frames * 1000
        print(f"Pillow JPEG 640x480 q{quality}: {ms:.2f} ms/frame, {len(data) / 1000:.1f} kB/frame")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
