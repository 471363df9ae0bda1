"""DiFa's three losses (Zhang et al., NeurIPS 2022, "Towards Diverse and Faithful One-shot Adaption of Generative
Adversarial Networks"), as YBYBZhang/DiFa @277ce9b computes them (``ZSSGAN/criteria/clip_loss.py``, ``psp_loss.py``).

* global CLIP directional loss: ``L_dir = mean_b 1 − cos(Δv_samp, Δv_dom)`` with
  ``Δv_dom = n(n(E(ref)) − μ_A)`` (μ_A: source-domain CLIP mean, *not* re-normalised) and
  ``Δv_samp = n(n(E(G_B(w))) − n(E(G_A(w))))`` (n = L2 normalisation);
* local attentive-style loss: relaxed earth mover's distance between G_B's CLIP ViT tokens t and the reference's s
  (block 3 output, CLS dropped, each token L2-normalised): ``C_ij = 1 − cos(t_i, s_j)``,
  ``L_local = mean_b max(mean_i min_j C_ij, mean_j min_i C_ij)``;
* selective cross-domain consistency: e4e codes of G_B and G_A images, first ``keep_first`` W+ rows; a sliding
  window of batch means gives Δw = mean(B window) − mean(A window); the ⌊α·D⌋ channels with the smallest |Δw| are
  kept (domain-shared) and ``L_scc = ramp(i) · L1(cond·c_B, cond·c_A)`` with
  ``ramp(i) = max(0, (i − window) / (iters − window))``.

Everything here takes tensors; the training script wires generators, CLIP and e4e around it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from faceedit.errors import InvalidArgumentError
from faceedit.models.clip import CLIP, CLIP_MEAN, CLIP_STD

__all__ = [
    "ClipDomainLoss",
    "SelectiveConsistencyLoss",
    "clip_input",
    "directional_loss",
    "domain_direction",
    "remd_loss",
]


def _n(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True)


def clip_input(images: torch.Tensor, resolution: int = 224) -> torch.Tensor:
    """Generator images in [-1, 1], [N, 3, H, W] → CLIP input: [0, 1], bicubic resize (no antialias, as the
    torchvision 0.9 tensor ``Resize`` DiFa ran with), CLIP mean/std."""
    x = (images + 1) / 2
    if x.shape[-2:] != (resolution, resolution):
        x = F.interpolate(x, size=(resolution, resolution), mode="bicubic", align_corners=False, antialias=False)
    mean = x.new_tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(CLIP_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def domain_direction(
    reference_embeddings: torch.Tensor,  # [R, D] CLIP embeddings of the reference image(s), raw
    source_mean: torch.Tensor,  # [D] μ_A, mean CLIP embedding of the source domain (used as is)
) -> torch.Tensor:
    """Δv_dom [1, D]: normalised (mean of the normalised reference embeddings, renormalised) − μ_A, normalised."""
    target = _n(_n(reference_embeddings).mean(dim=0, keepdim=True))
    return _n(target - source_mean.to(target.dtype).view(1, -1))


def directional_loss(
    emb_a: torch.Tensor,  # [B, D] CLIP embeddings of G_A(w)
    emb_b: torch.Tensor,  # [B, D] CLIP embeddings of G_B(w)
    direction: torch.Tensor,  # [1, D] Δv_dom
) -> torch.Tensor:
    """L_dir = mean over the batch of 1 − cos(n(n(e_B) − n(e_A)), Δv_dom)."""
    delta = _n(_n(emb_b) - _n(emb_a))
    return (1 - F.cosine_similarity(delta, direction.expand_as(delta), dim=1)).mean()


def remd_loss(
    tokens: torch.Tensor,  # [B, N, C] G_B's CLIP ViT tokens
    style_tokens: torch.Tensor,  # [1 or B, M, C] the reference's tokens
) -> torch.Tensor:
    """Relaxed EMD: mean over the batch of max(mean_i min_j C_ij, mean_j min_i C_ij), C = 1 − cosine."""
    t = _n(tokens)
    s = _n(style_tokens).expand(t.shape[0], -1, -1)
    cost = 1 - torch.bmm(t, s.transpose(1, 2))  # [B, N, M]
    rows = cost.min(dim=2).values.mean(dim=1)
    cols = cost.min(dim=1).values.mean(dim=1)
    return torch.maximum(rows, cols).mean()


class ClipDomainLoss(torch.nn.Module):
    """One CLIP model's part of DiFa's loss: L_dir + λ_local · L_local, against one reference image.

    ``reference`` is the reference already in CLIP's input form ([1, 3, 224, 224], e.g. from
    :func:`faceedit.train.difa.reference_tensor`); Δv_dom and the reference tokens are computed once here.
    """

    def __init__(
        self,
        clip: CLIP,  # frozen CLIP (ViT-B/32 or B/16)
        reference: torch.Tensor,  # [R, 3, 224, 224] CLIP-normalised reference image(s)
        source_mean: torch.Tensor,  # [D] μ_A for this CLIP model
        lambda_local: float = 1.5,  # λ_partial (train.sh at the pin; README 1)
        token_layer: int = 3,  # clip_layer
    ) -> None:
        super().__init__()
        self.clip = clip
        self.lambda_local = lambda_local
        self.token_layer = token_layer
        with torch.no_grad():
            emb, tokens = clip.encode_image_with_tokens(reference.to(clip.dtype), token_layer)
        self.register_buffer("direction", domain_direction(emb.float(), source_mean.float()), persistent=False)
        self.register_buffer("style_tokens", tokens.float().mean(dim=0, keepdim=True), persistent=False)

    def forward(
        self, images_a: torch.Tensor, images_b: torch.Tensor  # [B, 3, H, W] in [-1, 1]: G_A(w), G_B(w)
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """→ (loss, {"dir": L_dir, "local": L_local})."""
        with torch.no_grad():
            emb_a = self.clip.encode_image(clip_input(images_a, self.clip.visual.input_resolution))
        emb_b, tok_b = self.clip.encode_image_with_tokens(
            clip_input(images_b, self.clip.visual.input_resolution), self.token_layer
        )
        l_dir = directional_loss(emb_a.float(), emb_b.float(), self.direction)
        l_local = remd_loss(tok_b.float(), self.style_tokens)
        return l_dir + self.lambda_local * l_local, {"dir": float(l_dir.detach()), "local": float(l_local.detach())}


class SelectiveConsistencyLoss:
    """L_scc with DiFa's sliding window of code means ("dynamic" type, ``delta_w_type`` "mean").

    Stateful: each call pushes the batch means of both code sets into the window (oldest replaced once full).
    """

    def __init__(
        self,
        window: int = 30,  # sliding_window_size (train.sh at the pin; README 50)
        alpha: float = 0.8,  # psp_alpha: share of channels kept (train.sh at the pin; README 0.6)
        keep_first: int = 7,  # num_keep_first W+ rows compared
        iters: int = 301,  # total iterations (the ramp reaches (iters-1-window)/(iters-window) at the end)
    ) -> None:
        if not 0 < alpha <= 1 or window < 1 or keep_first < 1 or iters <= window:
            raise InvalidArgumentError(
                f"need 0 < alpha ≤ 1, window ≥ 1, keep_first ≥ 1 and iters > window "
                f"(got alpha={alpha}, window={window}, keep_first={keep_first}, iters={iters})"
            )
        self.window, self.alpha, self.keep_first, self.iters = window, alpha, keep_first, iters
        self._a: list[torch.Tensor] = []
        self._b: list[torch.Tensor] = []
        self._pos = 0

    def ramp(self, iteration: int) -> float:
        return max(0.0, (iteration - self.window) / (self.iters - self.window))

    def _push(self, mean_a: torch.Tensor, mean_b: torch.Tensor) -> None:
        if len(self._a) < self.window:
            self._a.append(mean_a)
            self._b.append(mean_b)
        else:
            self._a[self._pos], self._b[self._pos] = mean_a, mean_b
            self._pos = (self._pos + 1) % self.window

    def mask(self) -> torch.Tensor:
        """cond [D]: 1 on the ⌊α·D⌋ channels of smallest |Δw| in the current window, 0 elsewhere."""
        delta = torch.stack(self._b).mean(0) - torch.stack(self._a).mean(0)
        order = delta.abs().argsort()
        cond = torch.zeros_like(delta)
        cond[order[: int(self.alpha * delta.numel())]] = 1
        return cond

    def __call__(
        self,
        codes_b: torch.Tensor,  # [B, n_latent, 512] e4e codes of G_B(w) (gradients flow)
        codes_a: torch.Tensor,  # [B, n_latent, 512] e4e codes of G_A(w)
        iteration: int,  # 0-based training step
    ) -> torch.Tensor:
        c_b = codes_b.reshape(codes_b.shape[0], -1)[:, : self.keep_first * codes_b.shape[-1]]
        c_a = codes_a.reshape(codes_a.shape[0], -1)[:, : self.keep_first * codes_a.shape[-1]]
        self._push(c_a.mean(0).detach(), c_b.mean(0).detach())
        cond = self.mask().unsqueeze(0)
        return self.ramp(iteration) * F.l1_loss(cond * c_b, cond * c_a)
