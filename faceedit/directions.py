"""Semantic directions in a StyleGAN latent space: InterfaceGAN boundaries and friends.

InterfaceGAN (Shen, Gu, Tang, Zhou, "Interpreting the Latent Space of GANs for Semantic Face
Editing", CVPR 2020; extended as "InterFaceGAN", TPAMI 2020) finds that a binary attribute is
separated in the latent space by a hyperplane with unit normal ``n``; moving a latent along
``n`` changes the attribute (Sec. 2.2, ``z_edit = z + alpha n``).  This module holds

* :func:`train_boundary` - the linear-SVM fit of the normal, step for step as the authors'
  ``utils/manipulator.py::train_boundary`` (genforce/interfacegan @ 7143965), with scikit-learn;
* :func:`project_boundary` - conditional manipulation (Sec. 2.2 "Conditional Manipulation",
  Fig. 3): the primal normal ``n1`` made orthogonal to condition normals ``n2, n3, ...``;
* :class:`Direction` / :class:`DirectionLibrary` - named directions and the slider edit in W / W+;
* loaders for the published formats: InterfaceGAN ``.npy`` boundaries, e4e ``interfacegan_directions``
  ``.pt`` files, GANSpace ``ffhq_pca.pt``; and safetensors files for directions users train.

Slider units
------------
Every vector direction is stored with unit-norm rows and a ``scale``: the standard deviation of
the generator's W distribution projected on the direction, ``sigma_n = std(n^T w)``.  A slider value
``alpha`` moves a latent by ``alpha * sigma_n`` along ``n``::

    w' = w + alpha * scale * n            (W, or every selected layer of W+)

so ``alpha = +-3`` means "three standard deviations of this attribute's latent coordinate" for every
attribute (the same as InterfaceGAN's -3..3 distances in Z, where ``sigma_n = 1``).  Where the scale
comes from is recorded in ``Direction.scale_source``:

* ``"samples"``: measured on the latents a boundary was trained on (:mod:`faceedit.train.boundary`);
* ``"pca"``: GANSpace component std, exact for its own components; for other directions estimated
  from the GANSpace PCA of the same generator (:meth:`GanspacePCA.projected_std`);
* ``"unit"``: nothing known, ``scale = 1`` (raw W units, as e4e's editor uses them).

Kinds
-----
``Direction.kind`` names where a direction comes from (``"interfacegan"``, ``"ganspace"``, ``"user"``,
``"l2m"``, ...).  The library's :meth:`DirectionLibrary.apply` edits latents for the vector kinds
(:data:`VECTOR_KINDS`) and refuses other kinds with :class:`UnsupportedEditError`: a model-based edit
such as L2M-GAN's lives with its model and is listed here only so the app can name it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from faceedit.errors import (
    InvalidArgumentError,
    UnsupportedEditError,
    WeightsMissingError,
    WeightsVerificationError,
)

if TYPE_CHECKING:
    from faceedit.weights import WeightSpec

#: Latent width of StyleGAN2 FFHQ (W) and its number of W+ layers at 1024 px.
LATENT_DIM = 512
NUM_LAYERS = 18
#: Kinds whose ``vector`` the library adds to latents.
VECTOR_KINDS = frozenset({"interfacegan", "ganspace", "user"})
#: Slider range the UI offers; values outside are refused by :meth:`DirectionLibrary.apply`.
MAX_ALPHA = 10.0


# ---------------------------------------------------------------------------------------------
# Boundary training (InterfaceGAN, utils/manipulator.py::train_boundary)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BoundaryResult:
    """What :func:`train_boundary` found."""

    normal: np.ndarray  # [1, dim] float32, unit norm, pointing towards higher scores
    accuracy: float  # validation accuracy on held-out top/bottom samples (nan if none held out)
    remaining_accuracy: float  # accuracy on the unchosen middle, labelled by the score midpoint
    scale: float  # std of the valid latents projected on the normal (slider unit)
    num_samples: int  # samples given
    num_dropped: int  # samples dropped for an invalid (NaN / inf / invalid_value) score
    num_chosen: int  # positives taken (= negatives taken)
    num_train: int  # training samples per class
    num_val: int  # validation samples per class

    def to_dict(self) -> dict[str, float | int]:
        """The numbers (not the normal), JSON-ready."""
        return {
            "accuracy": self.accuracy,
            "remaining_accuracy": self.remaining_accuracy,
            "scale": self.scale,
            "num_samples": self.num_samples,
            "num_dropped": self.num_dropped,
            "num_chosen": self.num_chosen,
            "num_train": self.num_train,
            "num_val": self.num_val,
        }


def train_boundary(
    latents: np.ndarray,
    scores: np.ndarray,
    chosen_ratio: float = 0.02,
    split_ratio: float = 0.7,
    seed: int = 0,
    invalid_value: float | None = None,
) -> BoundaryResult:
    """Fit the InterfaceGAN boundary of an attribute with a linear SVM.

    The steps of the authors' ``train_boundary``: drop invalid scores; sort samples by score,
    highest first; take the top ``chosen`` as positives and the bottom ``chosen`` as negatives
    (``chosen = int(N * chosen_ratio)`` for a ratio in (0, 1], else the count itself, at most
    ``N // 2``); shuffle each group (seeded here) and split it ``split_ratio`` / rest into
    training / validation; fit ``sklearn.svm.SVC(kernel="linear")``; report the validation accuracy;
    return the SVM's ``coef_`` normalised to unit length.

    Args:
        latents: ``[N, dim]`` latent codes (W of the generator).
        scores: ``[N]`` or ``[N, 1]`` attribute scores; NaN / inf (and ``invalid_value``) are dropped.
        chosen_ratio: fraction (or, if > 1, number) of samples taken at each end.
        split_ratio: training share of the chosen samples.
        seed: seeds the shuffles, so a run is reproducible.
        invalid_value: a further score value to drop (the authors' ``invalid_value``).
    """
    from sklearn import svm

    latents = np.asarray(latents)
    scores = np.asarray(scores, dtype=np.float64)
    if latents.ndim != 2 or not np.issubdtype(latents.dtype, np.floating):
        raise InvalidArgumentError(f"latents must be a float array [N, dim], got shape {latents.shape}")
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.shape != (latents.shape[0],):
        raise InvalidArgumentError(
            f"scores must have one value per latent ({latents.shape[0]}), got shape {scores.shape}"
        )
    if not chosen_ratio > 0:
        raise InvalidArgumentError(f"chosen_ratio must be positive, got {chosen_ratio}")
    if not 0 < split_ratio <= 1:
        raise InvalidArgumentError(f"split_ratio must lie in (0, 1], got {split_ratio}")
    if not np.isfinite(latents).all():
        raise InvalidArgumentError("latents contain NaN or inf")

    num_samples, dim = latents.shape
    valid = np.isfinite(scores)
    if invalid_value is not None:
        valid &= scores != invalid_value
    num_dropped = int(num_samples - valid.sum())
    latents = latents[valid].astype(np.float64)
    scores = scores[valid]
    num = latents.shape[0]

    order = np.argsort(scores, kind="stable")[::-1]  # highest score first
    latents, scores = latents[order], scores[order]
    chosen = int(num * chosen_ratio) if chosen_ratio <= 1 else int(chosen_ratio)
    chosen = min(chosen, num // 2)
    num_train = int(chosen * split_ratio)
    num_val = chosen - num_train
    if num_train < 1:
        raise InvalidArgumentError(
            f"too few samples to train a boundary: {num} valid scores ({num_dropped} dropped) give "
            f"{chosen} per class at chosen_ratio={chosen_ratio}, split_ratio={split_ratio}"
        )

    rng = np.random.default_rng(seed)
    pos_idx = rng.permutation(chosen)
    neg_idx = rng.permutation(chosen)
    positives, negatives = latents[:chosen][pos_idx], latents[num - chosen :][neg_idx]
    train_x = np.concatenate([positives[:num_train], negatives[:num_train]])
    train_y = np.concatenate([np.ones(num_train, np.int64), np.zeros(num_train, np.int64)])
    val_x = np.concatenate([positives[num_train:], negatives[num_train:]])
    val_y = np.concatenate([np.ones(num_val, np.int64), np.zeros(num_val, np.int64)])

    classifier = svm.SVC(kernel="linear").fit(train_x, train_y)
    accuracy = float((classifier.predict(val_x) == val_y).mean()) if num_val else float("nan")

    middle_x, middle_s = latents[chosen : num - chosen], scores[chosen : num - chosen]
    if len(middle_x):
        midpoint = (scores[0] + scores[-1]) / 2
        middle_y = (middle_s >= midpoint).astype(np.int64)
        remaining_accuracy = float((classifier.predict(middle_x) == middle_y).mean())
    else:
        remaining_accuracy = float("nan")

    normal = classifier.coef_.reshape(1, dim)
    norm = np.linalg.norm(normal)
    if not np.isfinite(norm) or norm == 0:
        raise InvalidArgumentError("the SVM found no boundary: the chosen samples cannot be told apart")
    normal = normal / norm
    scale = float(np.std(latents @ normal[0]))
    return BoundaryResult(
        normal=normal.astype(np.float32),
        accuracy=accuracy,
        remaining_accuracy=remaining_accuracy,
        scale=scale,
        num_samples=num_samples,
        num_dropped=num_dropped,
        num_chosen=chosen,
        num_train=num_train,
        num_val=num_val,
    )


# ---------------------------------------------------------------------------------------------
# Conditional manipulation (InterfaceGAN Sec. 2.2, Fig. 3)
# ---------------------------------------------------------------------------------------------


def _unit_rows(vector: np.ndarray, what: str) -> np.ndarray:
    """``[1, dim]`` float64 unit vector from any 1-row array; typed error when degenerate."""
    v = np.asarray(vector, dtype=np.float64).reshape(1, -1)
    norm = np.linalg.norm(v)
    if not np.isfinite(norm) or norm < 1e-12:
        raise InvalidArgumentError(f"{what} is zero or not finite")
    return v / norm


def project_boundary(primal: np.ndarray, *conditions: np.ndarray) -> np.ndarray:
    """The primal normal ``n1`` made orthogonal to the condition normals, unit norm.

    Moving along the result changes the primal attribute but not the distance to any condition
    hyperplane, e.g. "smile without changing age".  With the paper's symbols:

    * one condition ``n2`` (InterfaceGAN Sec. 2.2, Fig. 3)::

        n = n1 - (n1^T n2) n2

    * two conditions ``n2, n3``: ``n = n1 - a n2 - b n3`` with ``c = n2^T n3`` and ::

        a = (n1^T n2 - (n1^T n3) c) / (1 - c^2),   b = (n1^T n3 - (n1^T n2) c) / (1 - c^2)

      (the 2x2 normal equations solved in closed form, as the authors' ``project_boundary``);
    * any number: the orthogonal projection onto the complement of ``span(N)``, ``N = [n2 .. nk]``::

        n = n1 - N (N^T N)^+ N^T n1

      which is the least-squares residual of ``n1`` on the conditions and reduces to the two closed
      forms above.  Of all unit vectors orthogonal to the conditions it is the closest to ``n1``.

    All vectors are ``[1, dim]`` (any norm; they are normalised first).  Computed in float64,
    returned as float32.
    """
    n1 = _unit_rows(primal, "the primal boundary")
    conds = [_unit_rows(c, f"condition boundary {i + 1}") for i, c in enumerate(conditions)]
    for i, c in enumerate(conds):
        if c.shape != n1.shape:
            raise InvalidArgumentError(
                f"condition boundary {i + 1} has {c.shape[1]} dimensions, the primal {n1.shape[1]}"
            )
    if not conds:
        return n1.astype(np.float32)
    if len(conds) == 1:
        (n2,) = conds
        n = n1 - (n1 @ n2.T) * n2
    elif len(conds) == 2 and abs(float(np.sum(conds[0] @ conds[1].T))) < 1 - 1e-6:
        n2, n3 = conds
        c = float(np.sum(n2 @ n3.T))
        p2, p3 = float(np.sum(n1 @ n2.T)), float(np.sum(n1 @ n3.T))
        a = (p2 - p3 * c) / (1 - c**2)
        b = (p3 - p2 * c) / (1 - c**2)
        n = n1 - a * n2 - b * n3
    else:
        big_n = np.concatenate(conds).T  # [dim, k]
        coef, *_ = np.linalg.lstsq(big_n, n1[0], rcond=None)
        n = n1 - (big_n @ coef)[None]
    norm = np.linalg.norm(n)
    if norm < 1e-6:
        raise InvalidArgumentError(
            "the primal boundary lies in the span of the conditions: nothing is left to edit"
        )
    return (n / norm).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Directions and the library
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Direction:
    """A named edit direction in a StyleGAN latent space.

    ``vector`` is ``[1, dim]`` (the same offset on every selected W+ layer) or ``[L, dim]`` (one row
    per W+ layer); rows are unit norm for vector kinds.  ``layers = (start, stop)`` limits the edit
    to W+ layers ``start <= i < stop`` (None: all).  ``scale`` is the latent distance of one slider
    unit (see the module docstring).  Rows of vector kinds are normalised on construction.  ``group`` is
    where the page lists the slider ("expression", "age and gender", "hair", ..., "other").
    """

    name: str
    vector: np.ndarray  # [1, dim] or [L, dim] float32
    layers: tuple[int, int] | None = None
    scale: float = 1.0
    source: str = ""
    kind: str = "interfacegan"
    generator: str = ""  # which generator's latent space, e.g. "stylegan2.ffhq"
    accuracy: float | None = None  # validation accuracy of a trained boundary
    scale_source: str = "unit"  # "samples" | "pca" | "unit"
    metadata: Mapping[str, str] = field(default_factory=dict)
    group: str = "other"

    def __post_init__(self) -> None:
        vec = np.array(self.vector, dtype=np.float32, copy=True)
        if vec.ndim == 1:
            vec = vec[None]
        if vec.ndim != 2 or vec.shape[1] < 1:
            raise InvalidArgumentError(
                f"direction {self.name!r}: vector must be [1, dim] or [layers, dim], got {vec.shape}"
            )
        if not np.isfinite(vec).all():
            raise InvalidArgumentError(f"direction {self.name!r}: vector contains NaN or inf")
        if self.kind in VECTOR_KINDS:
            norms = np.linalg.norm(vec.astype(np.float64), axis=1, keepdims=True)
            if (norms < 1e-12).any():
                raise InvalidArgumentError(f"direction {self.name!r}: vector has a zero row")
            vec = (vec / norms).astype(np.float32)  # unit rows, so scale alone sets the step
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise InvalidArgumentError(f"direction {self.name!r}: scale must be positive, got {self.scale}")
        if self.layers is not None:
            start, stop = (int(x) for x in self.layers)
            if not 0 <= start < stop:
                raise InvalidArgumentError(
                    f"direction {self.name!r}: layers must be (start, stop) with 0 <= start < stop, "
                    f"got {self.layers}"
                )
            object.__setattr__(self, "layers", (start, stop))
        vec.setflags(write=False)
        object.__setattr__(self, "vector", vec)
        object.__setattr__(self, "scale", float(self.scale))
        object.__setattr__(self, "metadata", dict(self.metadata))

    @property
    def dim(self) -> int:
        """Latent width."""
        return int(self.vector.shape[1])

    def offset(self, alpha: float, num_layers: int) -> torch.Tensor:
        """The W+ offset ``[num_layers, dim]`` float32 for a slider value ``alpha``.

        ``alpha * scale * vector`` on the selected layers, zero elsewhere.
        """
        if self.kind not in VECTOR_KINDS:
            raise UnsupportedEditError(
                f"direction {self.name!r} is of kind {self.kind!r}, which is applied by its own model, "
                "not by adding a latent vector"
            )
        start, stop = self.layers if self.layers is not None else (0, num_layers)
        if stop > num_layers:
            raise InvalidArgumentError(
                f"direction {self.name!r} edits W+ layers {start}..{stop - 1}, "
                f"but the latent has only {num_layers} layers"
            )
        rows = self.vector.shape[0]
        if rows not in (1, num_layers):
            raise InvalidArgumentError(
                f"direction {self.name!r} has {rows} per-layer rows, the latent {num_layers} layers"
            )
        vec = torch.from_numpy(np.array(self.vector)).expand(num_layers, self.dim)
        mask = torch.zeros(num_layers, 1)
        mask[start:stop] = 1.0
        return float(alpha) * self.scale * vec * mask


def edit(w: torch.Tensor, direction: Direction, alpha: float) -> torch.Tensor:
    """``w + alpha * scale * n``: ``w`` is ``[N, dim]`` (W) or ``[N, L, dim]`` (W+); new tensor.

    In W only a direction with one row and no layer limit makes sense; a layer-limited or per-layer
    direction needs W+.
    """
    if w.ndim == 2:
        if direction.layers is not None or direction.vector.shape[0] != 1:
            raise InvalidArgumentError(
                f"direction {direction.name!r} is per layer; edit the W+ latent [N, L, {direction.dim}]"
            )
        return edit(w[:, None], direction, alpha)[:, 0]
    if w.ndim != 3 or w.shape[-1] != direction.dim:
        raise InvalidArgumentError(
            f"latent must be [N, {direction.dim}] or [N, L, {direction.dim}], got {tuple(w.shape)}"
        )
    alpha = float(alpha)
    if not np.isfinite(alpha):
        raise InvalidArgumentError(f"slider value for {direction.name!r} must be a finite number, got {alpha}")
    if alpha == 0:
        return w.clone()
    delta = direction.offset(alpha, w.shape[1]).to(device=w.device)
    return (w.float() + delta).to(w.dtype)


class DirectionLibrary:
    """Named directions, and the slider edit of a W+ latent with several of them at once."""

    def __init__(self, directions: Iterable[Direction] = ()) -> None:
        self._directions: dict[str, Direction] = {}
        for d in directions:
            self.add(d)

    def add(self, direction: Direction, replace_existing: bool = False) -> None:
        """Register a direction under its name."""
        if direction.name in self._directions and not replace_existing:
            raise InvalidArgumentError(f"a direction named {direction.name!r} is already in the library")
        self._directions[direction.name] = direction

    def names(self, kinds: Iterable[str] | None = None) -> list[str]:
        """Names in the order they were added; ``kinds`` keeps only those kinds (e.g. ``VECTOR_KINDS``).

        An engine that also drives model-based edits (L2M-GAN) splits the slider values with
        ``names(VECTOR_KINDS)`` and hands only those to :meth:`apply`.
        """
        if kinds is None:
            return list(self._directions)
        keep = set(kinds)
        return [n for n, d in self._directions.items() if d.kind in keep]

    def __contains__(self, name: object) -> bool:
        return name in self._directions

    def __len__(self) -> int:
        return len(self._directions)

    def get(self, name: str) -> Direction:
        """The direction called ``name``; the error lists the known names."""
        try:
            return self._directions[name]
        except KeyError:
            known = ", ".join(self._directions) or "none"
            raise InvalidArgumentError(f"unknown direction {name!r}; known directions: {known}") from None

    def conditioned(self, name: str, conditions: Sequence[str], new_name: str | None = None) -> Direction:
        """``name`` made orthogonal to the ``conditions`` (conditional manipulation), not registered.

        Per-layer directions are projected row by row against the conditions' matching rows.  The
        scale is kept, so a slider unit stays the primal attribute's standard deviation.
        """
        primal = self.get(name)
        conds = [self.get(c) for c in conditions]
        for c in (primal, *conds):
            if c.kind not in VECTOR_KINDS:
                raise UnsupportedEditError(f"direction {c.name!r} of kind {c.kind!r} has no vector to project")
            if c.dim != primal.dim:
                raise InvalidArgumentError(f"direction {c.name!r} lives in another latent width")
        rows = max(d.vector.shape[0] for d in (primal, *conds))

        def row(d: Direction, i: int) -> np.ndarray:
            return d.vector[i if d.vector.shape[0] > 1 else 0][None]

        vector = np.concatenate([project_boundary(row(primal, i), *(row(c, i) for c in conds)) for i in range(rows)])
        if rows > 1 and all(np.array_equal(vector[0], r) for r in vector):
            vector = vector[:1]
        label = new_name or f"{name}|" + ",".join(conditions)
        return replace(
            primal,
            name=label,
            vector=vector,
            source=f"{primal.source} conditioned on {', '.join(conditions)}",
            metadata={**primal.metadata, "conditions": ",".join(conditions)},
        )

    def apply(
        self,
        w_plus: torch.Tensor,
        values: Mapping[str, float],
        conditions: Mapping[str, Sequence[str]] | None = None,
    ) -> torch.Tensor:
        """Move ``w_plus`` ``[N, L, dim]`` along every named direction by its slider value.

        ``w' = w + sum_k alpha_k * scale_k * n_k`` (each on its own layers); values of 0 contribute
        nothing and all zeros return an unchanged copy.  ``conditions`` optionally maps a direction
        name to names it must not change (see :meth:`conditioned`).  A new tensor is returned.
        """
        if not isinstance(w_plus, torch.Tensor) or w_plus.ndim != 3:
            shape = tuple(w_plus.shape) if isinstance(w_plus, torch.Tensor) else type(w_plus).__name__
            raise InvalidArgumentError(f"w_plus must be a tensor [N, layers, dim], got {shape}")
        conditions = conditions or {}
        delta = torch.zeros(w_plus.shape[1:], dtype=torch.float32)
        for name, alpha in values.items():
            direction = self.get(name)
            alpha = float(alpha)
            if not np.isfinite(alpha) or abs(alpha) > MAX_ALPHA:
                raise InvalidArgumentError(
                    f"slider value for {name!r} must be a number in [-{MAX_ALPHA:g}, {MAX_ALPHA:g}], got {alpha}"
                )
            if alpha == 0:
                continue
            if name in conditions and conditions[name]:
                direction = self.conditioned(name, conditions[name])
            if direction.dim != w_plus.shape[2]:
                raise InvalidArgumentError(
                    f"direction {name!r} is {direction.dim}-dimensional, the latent {w_plus.shape[2]}"
                )
            delta = delta + direction.offset(alpha, w_plus.shape[1])
        if not delta.any():
            return w_plus.clone()
        return (w_plus.float() + delta.to(w_plus.device)).to(w_plus.dtype)

    def with_measured_scales(self, w_samples: np.ndarray | torch.Tensor) -> DirectionLibrary:
        """A copy whose InterfaceGAN / user directions take their scale from W samples of the generator.

        ``scale = std(w . n)`` over ``w_samples`` ``[N, dim]`` (the mean over rows for a per-layer
        direction), ``scale_source = "samples"``; see :func:`sample_w`.  GANSpace directions keep theirs.
        """
        w = torch.as_tensor(w_samples).detach().to(torch.float64).cpu().numpy()
        if w.ndim != 2 or w.shape[0] < 2:
            raise InvalidArgumentError(f"w_samples must be [N >= 2, dim], got {w.shape}")
        out = DirectionLibrary()
        for d in self._directions.values():
            if d.kind in ("interfacegan", "user") and d.dim == w.shape[1]:
                scale = float(np.mean(np.std(w @ d.vector.astype(np.float64).T, axis=0)))
                d = replace(d, scale=scale, scale_source="samples")
            out.add(d)
        return out

    # -- construction from the weights registry ------------------------------------------------

    @classmethod
    def from_registry(
        cls,
        pca_name: str | None = "ganspace.ffhq_pca",
        local_path: Callable[[str], Path | None] | None = None,
        specs: Mapping[str, WeightSpec] | None = None,
    ) -> DirectionLibrary:
        """The sliders of every direction row of the weights manifest whose file is present locally.

        Each row with a ``slider`` (kind ``"direction"``) becomes a direction named after it, in its
        ``group``, on its ``layers``, loaded by the row's ``loader``; rows whose file is missing are left
        out.  When two rows give the same slider name, the first row of the manifest wins (e4e's
        ``smile.pt`` before InterfaceGAN's ``boundary_Smiling.npy``).  When the GANSpace PCA of the same
        generator is present, the scale of every InterfaceGAN direction is estimated from it
        (``scale_source="pca"``) and the named GANSpace edits (:data:`GANSPACE_FFHQ_EDITS`) are added.
        ``local_path`` and ``specs`` default to the registry's (tests pass their own).
        """
        from faceedit import weights  # the registry's contract

        local_path = weights.local_path if local_path is None else local_path
        specs = weights.registry() if specs is None else specs
        pca_path = local_path(pca_name) if pca_name else None
        pca = load_ganspace_pca(pca_path) if pca_path is not None else None
        lib = cls()
        for spec in specs.values():
            if spec.kind != "direction" or not spec.slider or spec.slider in lib:
                continue
            path = local_path(spec.name)
            if path is None:
                continue
            loaded = weights.resolve_loader(spec)(path)
            if not isinstance(loaded, Direction):
                raise WeightsVerificationError(f"{spec.name}: its loader gave {type(loaded).__name__}, not a direction")
            d = replace(loaded, name=spec.slider, group=spec.group, layers=spec.layers)
            if pca is not None and d.scale_source == "unit" and d.dim == pca.dim:
                d = replace(d, scale=pca.projected_std(d.vector), scale_source="pca")
            lib.add(d)
        if pca is not None:
            for d in ganspace_named_directions(pca):
                if d.name not in lib:
                    lib.add(d)
        return lib


@torch.inference_mode()
def sample_w(
    mapping: Callable[[torch.Tensor], torch.Tensor],
    num_samples: int = 10000,
    dim: int = LATENT_DIM,
    seed: int = 0,
    batch_size: int = 2000,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """``[num_samples, dim]`` float32 W codes: ``mapping(z)`` for ``z ~ N(0, I)`` drawn in float64 on the CPU.

    ``mapping`` is the generator's mapping network (rosinality's ``Generator.style``).
    """
    z = torch.randn(num_samples, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return torch.cat(
        [mapping(z[i : i + batch_size].float().to(device)).float().cpu() for i in range(0, num_samples, batch_size)]
    )


# ---------------------------------------------------------------------------------------------
# Published formats
# ---------------------------------------------------------------------------------------------


def _check_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise WeightsMissingError(f"direction file not found: {path}")
    return path


def _normalise_rows(vec: np.ndarray, path: Path) -> np.ndarray:
    vec = np.asarray(vec, dtype=np.float64)
    norms = np.linalg.norm(vec, axis=1, keepdims=True)
    if not np.isfinite(vec).all() or (norms < 1e-12).any():
        raise WeightsVerificationError(f"{path.name}: the direction is zero or not finite")
    return (vec / norms).astype(np.float32)


def load_interfacegan_npy(
    path: str | Path, name: str | None = None, generator: str = "", layers: tuple[int, int] | None = None
) -> Direction:
    """An InterfaceGAN boundary ``.npy``: ``[1, dim]`` float32 or float64 (no pickles)."""
    path = _check_file(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise WeightsVerificationError(f"{path.name} is not a plain numpy array file: {err}") from None
    if arr.ndim != 2 or arr.shape[0] != 1 or not np.issubdtype(arr.dtype, np.floating):
        raise WeightsVerificationError(
            f"{path.name}: an InterfaceGAN boundary is a float array [1, dim], got {arr.dtype} {arr.shape}"
        )
    return Direction(
        name=name or path.stem.removeprefix("boundary_"),
        vector=_normalise_rows(arr, path),
        layers=layers,
        source=f"InterfaceGAN boundary {path.name}",
        kind="interfacegan",
        generator=generator,
    )


def load_e4e_direction(path: str | Path, name: str | None = None, generator: str = "stylegan2.ffhq") -> Direction:
    """An e4e ``editings/interfacegan_directions/*.pt`` tensor: ``[1, 512]`` or ``[1, 18, 512]``.

    A per-layer file whose rows are all equal is stored as one row.
    """
    path = _check_file(path)
    try:
        t = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is a bad file
        raise WeightsVerificationError(f"{path.name} could not be loaded safely: {err}") from None
    if not isinstance(t, torch.Tensor) or t.ndim not in (2, 3) or t.shape[0] != 1:
        shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise WeightsVerificationError(f"{path.name}: an e4e direction is [1, dim] or [1, L, dim], got {shape}")
    vec = t.detach().to(torch.float64).reshape(-1, t.shape[-1]).numpy()
    if vec.shape[0] > 1 and np.allclose(vec, vec[:1]):
        vec = vec[:1]
    return Direction(
        name=name or path.stem,
        vector=_normalise_rows(vec, path),
        source=f"e4e InterfaceGAN direction {path.name}",
        kind="interfacegan",
        generator=generator,
    )


@dataclass(frozen=True, eq=False)
class GanspacePCA:
    """GANSpace PCA of W (Harkonen et al., NeurIPS 2020) as e4e ships it (``ffhq_pca.pt``)."""

    mean: np.ndarray  # [dim] float32
    comp: np.ndarray  # [K, dim] float32, orthonormal rows, by decreasing variance
    std: np.ndarray  # [K] float32

    @property
    def dim(self) -> int:
        return int(self.comp.shape[1])

    def projected_std(self, vector: np.ndarray) -> float:
        """Estimated ``std(n^T w)`` for a unit direction ``n`` (mean over rows of a per-layer one).

        ``sigma_n^2 = sum_k std_k^2 (c_k^T n)^2 + std_K^2 (1 - sum_k (c_k^T n)^2)``: the PCA's variance
        along its components, and the smallest kept component's variance for the part of ``n``
        outside them (an upper estimate, as the discarded components have less variance).
        """
        n = np.asarray(vector, np.float64).reshape(-1, self.dim)
        n = n / np.linalg.norm(n, axis=1, keepdims=True)
        c = n @ self.comp.astype(np.float64).T  # [rows, K]
        s2 = self.std.astype(np.float64) ** 2
        inside = (c**2).sum(axis=1)
        var = (c**2 * s2).sum(axis=1) + s2[-1] * np.clip(1 - inside, 0, None)
        return float(np.sqrt(var).mean())

    def directions(
        self, count: int | None = None, layers: tuple[int, int] | None = None, prefix: str = "pca", source: str = ""
    ) -> list[Direction]:
        """The first ``count`` principal directions, each scaled by its std (slider unit = 1 std)."""
        k = self.comp.shape[0] if count is None else min(count, self.comp.shape[0])
        return [
            Direction(
                name=f"{prefix}{i}",
                vector=self.comp[i][None],
                layers=layers,
                scale=float(self.std[i]),
                source=source or f"GANSpace principal component {i}",
                kind="ganspace",
                scale_source="pca",
            )
            for i in range(k)
        ]


#: Named GANSpace edits for StyleGAN2-FFHQ: name -> (component, first layer, stop layer, strength), the
#: examples e4e ships (omertov/encoder4editing ``scripts/inference.py`` / notebook, taken from the GANSpace
#: repository).  e4e *sets* the component coordinate to ``strength`` std on those layers; here they become
#: relative sliders along ``sign(strength) * comp`` whose scale is ``|strength| / 3`` std, so slider +3
#: moves as far as e4e's example from the mean.  Edits that InterfaceGAN directions already cover
#: (smile, age, pose, gender, glasses) are left out.
GANSPACE_FFHQ_EDITS: dict[str, tuple[int, int, int, float]] = {
    "eye_openness": (54, 7, 8, 20.0),
    "trimmed_beard": (58, 7, 9, 20.0),
    "white_hair": (57, 7, 10, -24.0),
    "lipstick": (34, 10, 11, 20.0),
}

#: Where the page lists each named GANSpace edit (as ``group`` of the manifest's direction rows).
GANSPACE_FFHQ_GROUPS: dict[str, str] = {
    "eye_openness": "expression",
    "trimmed_beard": "facial hair",
    "white_hair": "hair",
    "lipstick": "makeup and skin",
}


def ganspace_named_directions(pca: GanspacePCA, edits: Mapping[str, tuple[int, int, int, float]] | None = None):
    """Layer-limited directions from a GANSpace PCA for the named edits (:data:`GANSPACE_FFHQ_EDITS`)."""
    out = []
    for name, (k, start, stop, strength) in (GANSPACE_FFHQ_EDITS if edits is None else edits).items():
        if k >= pca.comp.shape[0]:
            raise InvalidArgumentError(f"GANSpace edit {name!r} needs component {k}; the PCA has {pca.comp.shape[0]}")
        out.append(
            Direction(
                name=name,
                vector=np.sign(strength) * pca.comp[k][None],
                layers=(start, stop),
                scale=float(pca.std[k]) * abs(strength) / 3.0,
                source=f"GANSpace component {k} on W+ layers {start}..{stop - 1} (e4e example strength {strength:g})",
                kind="ganspace",
                scale_source="pca",
                group=GANSPACE_FFHQ_GROUPS.get(name, "other"),
            )
        )
    return out


def load_ganspace_pca(path: str | Path) -> GanspacePCA:
    """e4e's ``editings/ganspace_pca/*_pca.pt``: dict ``mean [1, dim]``, ``comp [K, 1, dim]``, ``std [K]``."""
    path = _check_file(path)
    try:
        d = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001
        raise WeightsVerificationError(f"{path.name} could not be loaded safely: {err}") from None
    if not isinstance(d, dict) or not {"mean", "comp", "std"} <= set(d):
        raise WeightsVerificationError(f"{path.name}: a GANSpace PCA file is a dict with mean, comp, std")
    mean = d["mean"].to(torch.float32).reshape(-1).numpy()
    comp = d["comp"].to(torch.float32).reshape(d["comp"].shape[0], -1).numpy()
    std = d["std"].to(torch.float32).reshape(-1).numpy()
    if comp.shape[1] != mean.shape[0] or std.shape[0] != comp.shape[0]:
        raise WeightsVerificationError(
            f"{path.name}: inconsistent shapes mean {mean.shape}, comp {comp.shape}, std {std.shape}"
        )
    return GanspacePCA(mean=mean, comp=_normalise_rows(comp, path), std=std)


def load_ganspace_directions(path: str | Path, count: int = 10) -> list[Direction]:
    """The first ``count`` GANSpace directions of a PCA file, named ``pca0``, ``pca1``, ..."""
    return load_ganspace_pca(path).directions(count, source=f"GANSpace PCA {Path(path).name}")


# ---------------------------------------------------------------------------------------------
# User-trained directions (safetensors + metadata)
# ---------------------------------------------------------------------------------------------


def save_direction(direction: Direction, path: str | Path) -> Path:
    """Write a direction as safetensors: tensor ``direction`` plus string metadata."""
    from safetensors.numpy import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": "faceedit.direction/1",
        "name": direction.name,
        "kind": direction.kind,
        "source": direction.source,
        "generator": direction.generator,
        "layers": json.dumps(list(direction.layers) if direction.layers else None),
        "scale": repr(direction.scale),
        "scale_source": direction.scale_source,
        "accuracy": json.dumps(direction.accuracy),
        "extra": json.dumps(dict(direction.metadata)),
        "group": direction.group,
    }
    save_file({"direction": np.ascontiguousarray(direction.vector)}, str(path), metadata=meta)
    return path


def load_direction(path: str | Path) -> Direction:
    """Read a direction written by :func:`save_direction`."""
    from safetensors import safe_open

    path = _check_file(path)
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            vector = f.get_tensor("direction")
    except Exception as err:  # noqa: BLE001 - a corrupt or foreign file
        raise WeightsVerificationError(f"{path.name} is not a faceedit direction file: {err}") from None
    if meta.get("format") != "faceedit.direction/1":
        raise WeightsVerificationError(f"{path.name} is not a faceedit direction file (no format metadata)")
    layers = json.loads(meta["layers"])
    return Direction(
        name=meta["name"],
        vector=vector,
        layers=tuple(layers) if layers else None,
        scale=float(meta["scale"]),
        source=meta.get("source", ""),
        kind=meta.get("kind", "user"),
        generator=meta.get("generator", ""),
        accuracy=json.loads(meta.get("accuracy", "null")),
        scale_source=meta.get("scale_source", "unit"),
        metadata=json.loads(meta.get("extra", "{}")),
        group=meta.get("group", "other"),
    )
