"""Face swap with FaceShifter's AEI-Net on GHOST's weights, in the target's aligned space (no UI).

GHOST's inference (ai-forever/ghost @ ea23cce, ``utils/inference/*.py``), step by step, and where we differ:

1. **Crop chain.** Five keypoints (eye centres, nose tip, mouth corners) → the best of insightface 0.2.1's five
   pose templates at 224 (:func:`estimate_norm`: least summed point error of a similarity fit) → ``warpAffine``
   to 224×224 (black border) → ``cv2.resize`` to 256 (bilinear) for the generator. *Deviation*: GHOST's
   keypoints come from SCRFD; ours from the MediaPipe mesh (iris centres, vertex 1, vertices 61 / 291), and we
   warp the already FFHQ-aligned crop rather than the photo (a second resampling).
2. **Identity.** The source's 224 crop, RGB in [-1, 1], resized to 112 (``align_corners=True``) → IResNet-100 →
   the raw embedding z_id (:func:`faceedit.models.arcface.identity_embedding`).
3. **Generator.** Ŷ = G(X_t, z_id) → ``(Ŷ·0.5 + 0.5)·255`` converted to uint8 by **truncation**, as GHOST does.
4. **Paste-back.** Ŷ resized to 224, a face mask in the 224 frame (convex hull of the landmarks with the brows
   pushed up, eroded, its border zeroed, Gaussian-blurred; ``masks.py:face_mask_static``), both warped back by
   the inverse affine and alpha-blended. *Deviation*: GHOST's mask uses 106-point landmarks of both the swap and
   the target and picks erosion / blur (5–15 px) and the brow push (×0.5–2.7) from their left/right offset; we use
   the target's mesh (jaw line + brows) and GHOST's setting for a swap that keeps the target's outline (offset
   within ±3 px: erode 5, blur σ 5, brows ×2.0), since the generator keeps the target's pose.
5. **Similarity.** ArcFace cosine between the result (in the same 224 frame) and the source's z_id.

HEAR-Net (the paper's occlusion refinement) has no published weights, so GHOST's weights run without it, as in GHOST.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from faceedit.editors.faceswap_input import FaceSwapOutput, check_crop, check_pair, check_strength
from faceedit.landmarks import JAW, LEFT_BROW, LEFT_EYE, LEFT_IRIS, RIGHT_BROW, RIGHT_EYE, RIGHT_IRIS
from faceedit.models.aei_net import AEINet
from faceedit.models.arcface import IResNet, cosine_similarity, identity_embedding

#: insightface 0.2.1 ``face_align`` pose templates at 112 px (left profile, left, frontal, right, right profile):
#: left eye, right eye (image left / right), nose tip, mouth left, mouth right.
POSE_TEMPLATES_112 = np.array(
    [
        [[51.642, 50.115], [57.617, 49.990], [35.740, 69.007], [51.157, 89.050], [57.025, 89.702]],
        [[45.031, 50.118], [65.568, 50.872], [39.677, 68.111], [45.177, 86.190], [64.246, 86.758]],
        [[39.730, 51.138], [72.270, 51.138], [56.000, 68.493], [42.463, 87.010], [69.537, 87.010]],
        [[46.845, 50.872], [67.382, 50.118], [72.737, 68.111], [48.167, 86.758], [67.236, 86.190]],
        [[54.796, 49.990], [60.771, 50.115], [76.673, 69.007], [55.388, 89.702], [61.257, 89.050]],
    ],
    dtype=np.float64,
)
#: GHOST's crop side (``--crop_size 224``, "don't change this") and the generator's input side.
CROP_SIZE = 224
GENERATOR_SIZE = 256
#: FaceShifter handles turned faces (GHOST's profile templates), but the mesh and the swap degrade past this.
MAX_YAW_DEGREES = 60.0
#: GHOST's paste-back mask for a swap that keeps the target's outline (``face_mask_static``, |offset| ≤ 3).
MASK_ERODE, MASK_SIGMA, BROW_EXPAND = 5, 5.0, 2.0


@dataclass(frozen=True)
class FaceShifterNets:
    """The loaded networks (frozen, eval) and the device they run on."""

    generator: AEINet
    arcface: IResNet
    device: torch.device = torch.device("cpu")


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """``(5, 2)`` insightface-order keypoints from the mesh: eye centres (image left, right), nose tip,
    mouth corners (image left, right)."""
    lm = np.asarray(landmarks, np.float64)
    return lm[[RIGHT_IRIS[0], LEFT_IRIS[0], 1, 61, 291], :2]


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity ``[2, 3]`` mapping ``src`` points onto ``dst`` (Umeyama 1991)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    e = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        e[1, 1] = -1
    rot = u @ e @ vt
    scale = np.trace(np.diag(sig) @ e) / s.var(0).sum()
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def estimate_norm(points: np.ndarray, size: int = CROP_SIZE) -> tuple[np.ndarray, int]:
    """insightface 0.2.1 ``estimate_norm(kps, size, mode='None')``: the similarity to the best-fitting pose
    template (scaled to ``size``) and that template's index (0 left profile … 4 right profile)."""
    best, best_err, best_i = None, np.inf, 0
    for i, tpl in enumerate(POSE_TEMPLATES_112 * (size / 112.0)):
        m = _similarity(points, tpl)
        err = np.linalg.norm(points @ m[:, :2].T + m[:, 2] - tpl, axis=1).sum()
        if err < best_err:
            best, best_err, best_i = m, err, i
    assert best is not None
    return best, best_i


def ghost_crop(crop: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GHOST's 224 crop of an aligned face and its affine (crop pixels → 224 pixels)."""
    m, _ = estimate_norm(five_points(landmarks))
    return cv2.warpAffine(crop, m, (CROP_SIZE, CROP_SIZE), borderValue=0.0), m


def _to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """``(N, H, W, 3)`` uint8 RGB → ``[N, 3, H, W]`` float32 in [-1, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float()
    return t / 255.0 * 2 - 1


def source_identity(nets: FaceShifterNets, crop: np.ndarray, landmarks: np.ndarray) -> torch.Tensor:
    """z_id ``[1, 512]`` of a source face (cache it per source: it does not depend on the target)."""
    crop224, _ = ghost_crop(crop, landmarks)
    with torch.inference_mode():
        return identity_embedding(nets.arcface, _to_tensor(crop224[None], nets.device))


def face_mask(landmarks224: np.ndarray) -> np.ndarray:
    """GHOST-style paste-back mask in the 224 frame, float32 in [0, 1]: hull of the jaw line and the brows
    pushed up by ``BROW_EXPAND``·½·(brow − eye), eroded, border zeroed, Gaussian-blurred."""
    lm = landmarks224[:, :2]
    brows = []
    for brow, eye in ((RIGHT_BROW, RIGHT_EYE), (LEFT_BROW, LEFT_EYE)):
        eye_pts = lm[list(eye)]
        for p in lm[list(brow)]:
            below = eye_pts[np.argmin(np.linalg.norm(eye_pts - p, axis=1))]
            brows.append(p + BROW_EXPAND * 0.5 * (p - below))
    pts = np.concatenate([lm[list(JAW)], np.array(brows)]).astype(np.int32)
    mask = np.zeros((CROP_SIZE, CROP_SIZE), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(pts), 255)
    mask = cv2.erode(mask, np.ones((MASK_ERODE, MASK_ERODE), np.uint8))
    clip = int(2 * MASK_SIGMA)
    mask[:clip], mask[-clip:], mask[:, :clip], mask[:, -clip:] = 0, 0, 0, 0
    return (cv2.GaussianBlur(mask, (0, 0), sigmaX=MASK_SIGMA, sigmaY=MASK_SIGMA) / 255.0).astype(np.float32)


def run_generator(nets: FaceShifterNets, target224: np.ndarray, z_id: torch.Tensor) -> np.ndarray:
    """The generator on a 224 crop (resized to 256 as GHOST does) → ``(256, 256, 3)`` uint8, truncated."""
    x256 = cv2.resize(target224, (GENERATOR_SIZE, GENERATOR_SIZE), interpolation=cv2.INTER_LINEAR)
    with torch.inference_mode():
        y, _ = nets.generator(_to_tensor(x256[None], nets.device), z_id.to(nets.device))
        y = ((y[0].permute(1, 2, 0).float() * 0.5 + 0.5) * 255).clamp(0, 255)
        return y.to(torch.uint8).cpu().numpy()  # truncation, as GHOST's ``.type(torch.uint8)``


@dataclass(frozen=True)
class GeneratedSwap:
    """The generator's result in the target's crop space, before blending (cache it: a strength change then
    costs one blend, no network)."""

    swap: np.ndarray  # (S, S, 3) float32: Ŷ (truncated to uint8 values) warped back into the target crop
    mask: np.ndarray  # (S, S) float32 in [0, 1]: GHOST's paste-back mask at full strength
    similarity: float  # ArcFace cosine of Ŷ to the source
    message: str


def faceshifter_generate(
    nets: FaceShifterNets,
    target: np.ndarray,  # (S, S, 3) uint8 aligned target crop
    target_landmarks: np.ndarray,  # (478, 3) its mesh in crop pixels
    source: np.ndarray,  # (S', S', 3) uint8 aligned source crop
    source_landmarks: np.ndarray,  # (478, 3) its mesh
    z_id: torch.Tensor | None = None,  # the source's cached identity (:func:`source_identity`)
    target_face_px: float | None = None,  # face widths in their photos, for the too-small check
    source_face_px: float | None = None,
) -> GeneratedSwap:
    """Checks, GHOST's crop chain, the generator, and the result and its mask back in the target crop."""
    target, t_lm = check_crop(target, target_landmarks, "target")
    source, s_lm = check_crop(source, source_landmarks, "source")
    check_pair(target, t_lm, source, s_lm, MAX_YAW_DEGREES, "FaceShifter", target_face_px, source_face_px)
    if z_id is None:
        z_id = source_identity(nets, source, s_lm)
    target224, m = ghost_crop(target, t_lm)
    y224 = cv2.resize(
        run_generator(nets, target224, z_id), (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_LINEAR
    )
    lm224 = np.concatenate([t_lm[:, :2], np.ones((478, 1))], 1) @ m.T
    inverse = cv2.invertAffineTransform(m)
    size = target.shape[1], target.shape[0]
    swap = cv2.warpAffine(y224, inverse, size, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    mask = np.clip(cv2.warpAffine(face_mask(lm224), inverse, size), 0.0, 1.0).astype(np.float32)
    with torch.inference_mode():
        emb = identity_embedding(nets.arcface, _to_tensor(y224[None], nets.device))
        sim = float(cosine_similarity(emb, z_id)[0])
    message = (
        f"FaceShifter AEI-Net on GHOST's {nets.generator.num_blocks}-block weights (no HEAR-Net: none published); "
        f"identity similarity to the source {sim:.2f} (ArcFace cosine)"
    )
    return GeneratedSwap(swap=swap, mask=mask, similarity=sim, message=message)


def blend_swap(target: np.ndarray, generated: GeneratedSwap, strength: float = 1.0) -> FaceSwapOutput:
    """GHOST's alpha blend of the generated face into the target crop, the mask scaled by ``strength``."""
    strength = check_strength(strength)
    region = generated.mask * np.float32(strength)
    a = region[..., None]
    crop = (a * generated.swap + (1 - a) * target.astype(np.float32)).astype(
        np.uint8
    )  # GHOST truncates here too
    return FaceSwapOutput(
        crop=crop, region=region, message=generated.message, similarity=generated.similarity
    )


def faceshifter_swap(
    nets: FaceShifterNets,
    target: np.ndarray,  # (S, S, 3) uint8 aligned target crop
    target_landmarks: np.ndarray,  # (478, 3) its mesh in crop pixels
    source: np.ndarray,  # (S', S', 3) uint8 aligned source crop
    source_landmarks: np.ndarray,  # (478, 3) its mesh
    strength: float = 1.0,  # blend strength in [0, 1]
    z_id: torch.Tensor | None = None,  # the source's cached identity (:func:`source_identity`)
    target_face_px: float | None = None,  # face widths in their photos, for the too-small check
    source_face_px: float | None = None,
) -> FaceSwapOutput:
    """The source's identity on the target face, pasted back into the target crop with GHOST's mask
    (:func:`faceshifter_generate` then :func:`blend_swap`)."""
    strength = check_strength(strength)
    generated = faceshifter_generate(
        nets, target, target_landmarks, source, source_landmarks, z_id, target_face_px, source_face_px
    )
    return blend_swap(np.asarray(target), generated, strength)
