"""How far MediaPipe's re-detected outline and nose move on their own, and under the lite smile.

Issue 23 asks that, at smile +2, the face-outline and nose landmarks re-detected on the edited face move
less than 1 px (mean).  This script measures that figure next to the detector's own repeatability on the
*unchanged* face, so the two can be compared:

* ``rerun``: the same crop meshed again the way MediaPipe follows a face in a video (each run's region of
  interest taken from the previous run's landmarks);
* ``shift 2 px`` / ``noise 1``: the crop moved by 2 px (landmarks moved back) / with grey noise of sigma 1;
* ``smile s``: the lite smile at ``s``; ``warp`` is how far the smile's own warp moves the pixels under those
  landmarks (what the edit does), ``re-detected`` what the detector reports afterwards.

Run: ``.venv/bin/python tests/measure_landmark_repeatability.py`` (about 20 s on two cores).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from faceedit.editors import lite_ops as lite  # noqa: E402
from faceedit.landmarks import FACE_OVAL, NOSE, NOSE_MIDLINE, detect_faces  # noqa: E402
from faceedit.session import Session  # noqa: E402

OVAL = list(FACE_OVAL)
NOSE_POINTS = sorted(set(NOSE) | set(NOSE_MIDLINE))


def _mesh(crop: np.ndarray) -> np.ndarray:
    return detect_faces(crop, max_faces=1)[0].landmarks[:, :2].astype(np.float64)


def _moves(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    d = np.hypot(*(a - b).T)
    return float(d[OVAL].mean()), float(d[NOSE_POINTS].mean())


def _tracked(crop: np.ndarray, runs: int = 6) -> list[np.ndarray]:
    import mediapipe as mp

    h, w = crop.shape[:2]
    out = []
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=True) as mesh:
        for _ in range(runs):
            found = mesh.process(np.ascontiguousarray(crop)).multi_face_landmarks[0].landmark
            out.append(np.array([(p.x * w, p.y * h) for p in found]))
    return out


def measure(photo: Path) -> list[tuple[str, float, float, str]]:
    """Rows (what, outline px, nose px, note) for one photo."""
    s = Session.from_photo(str(photo), engine="lite")
    crop = s.crop
    before = _mesh(crop)
    rows = []
    runs = _tracked(crop)
    pairs = [_moves(runs[i], runs[i - 1]) for i in range(2, len(runs))]
    rows.append(("rerun (same crop)", *np.mean(pairs, axis=0), "mean of consecutive runs 2-5"))
    shifted = np.roll(crop, (2, 2), axis=(0, 1))
    rows.append(("shift 2 px", *_moves(_mesh(shifted) - 2.0, before), ""))
    rng = np.random.default_rng(0)
    noisy = np.clip(crop + rng.normal(0, 1, crop.shape), 0, 255).astype(np.uint8)
    rows.append(("noise sigma 1", *_moves(_mesh(noisy), before), ""))
    lm = s._history[0].base.landmarks.astype(np.float64)
    for value in (0.5, 1.0, 2.0):
        mx, my = lite.expression_map(lm, crop.shape[:2], smile=value, age=0.0)
        p = np.round(lm[:, :2] - 0.5).astype(int)
        warp = np.hypot(mx[p[:, 1], p[:, 0]] - p[:, 0], my[p[:, 1], p[:, 0]] - p[:, 1])
        after = _mesh(s.set_attributes({"smile": value}).crop)
        corners = after[[61, 291]] - before[[61, 291]]
        rows.append((f"smile {value:+.1f}: warp", float(warp[OVAL].mean()), float(warp[NOSE_POINTS].mean()), ""))
        rows.append((f"smile {value:+.1f}: re-detected", *_moves(after, before),
                     f"mouth corners up {-corners[:, 1].mean():.1f} px"))
    s.set_attributes({"smile": 0.0})
    return rows


def main() -> None:
    for name in ("grace_hopper.jpg", "astronaut.png"):
        print(f"\n{name}\n| what | outline px | nose px | note |\n|---|---|---|---|")
        for what, oval, nose, note in measure(ROOT / "assets" / name):
            print(f"| {what} | {oval:.2f} | {nose:.2f} | {note} |")


if __name__ == "__main__":
    main()
