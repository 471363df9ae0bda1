"""Time the foundation path on this CPU: load, detect, align, parse, paste back.

Run: ``python benchmarks/foundation.py [--repeat 10]``; prints a Markdown table
(median and min over the repeats, after one warm-up call that builds the MediaPipe graphs).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from benchmarks._timing import timings  # noqa: E402
from faceedit.align import align_face, face_region, paste_back  # noqa: E402
from faceedit.imaging import load_image  # noqa: E402
from faceedit.landmarks import detect_faces, segment_person  # noqa: E402
from faceedit.parsing.landmark import LandmarkParser, central_face  # noqa: E402


def timeit(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median and minimum milliseconds per call, after one warm-up call (graph construction, caches)."""
    times = timings(fn, repeat, warmup=True)
    return statistics.median(times) * 1000, min(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args()
    from skimage import data

    photo = np.ascontiguousarray(data.astronaut())
    big = cv2.resize(photo, (3000, 3000), interpolation=cv2.INTER_CUBIC)
    buf = io.BytesIO()
    Image.fromarray(big).save(buf, format="JPEG", quality=92)
    jpeg = buf.getvalue()
    face = detect_faces(photo)[0]
    crop, al = align_face(photo, face, args.size)
    crop_face = central_face(crop)
    person = segment_person(crop)
    parser = LandmarkParser()
    labels = parser.parse(crop, face=crop_face, person=person)
    region = face_region(labels)
    big_face = detect_faces(big)[0]

    def full() -> None:
        f = detect_faces(photo)[0]
        c, a = align_face(photo, f, args.size)
        lab = parser.parse(c)
        paste_back(photo, c, a, face_region(lab))

    rows = [
        ("load 3000x3000 JPEG (9 MP)", lambda: load_image(jpeg)),
        ("detect_faces, 512x512 photo", lambda: detect_faces(photo)),
        ("detect_faces, 3000x3000 photo (tiles)", lambda: detect_faces(big)),
        (f"align_face -> {args.size}, from 512x512", lambda: align_face(photo, face, args.size)),
        (f"align_face -> {args.size}, from 3000x3000", lambda: align_face(big, big_face, args.size)),
        (f"mesh on the {args.size} crop (central_face)", lambda: central_face(crop)),
        (f"segment_person on the {args.size} crop", lambda: segment_person(crop)),
        (f"label building only ({args.size})", lambda: parser.parse(crop, face=crop_face, person=person)),
        (f"LandmarkParser.parse ({args.size}, all included)", lambda: parser.parse(crop)),
        (f"face_region ({args.size})", lambda: face_region(labels)),
        ("paste_back into 512x512", lambda: paste_back(photo, crop, al, region)),
        (f"detect + align + parse + paste back ({args.size}, 512x512 photo)", full),
    ]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs; "
          f"python {platform.python_version()}; numpy {np.__version__}; opencv {cv2.__version__}; "
          f"opencv threads {cv2.getNumThreads()}; repeats {args.repeat}\n")
    print("| step | median ms | min ms |\n| --- | ---: | ---: |")
    for name, fn in rows:
        med, best = timeit(fn, args.repeat)
        print(f"| {name} | {med:.1f} | {best:.1f} |")


if __name__ == "__main__":
    main()
