"""StyleGAN2 generator (Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020).

State dict of rosinality/stylegan2-pytorch @ bef283a ``model.py`` ``Generator`` (``g_ema`` in its checkpoints and
``decoder.*`` inside the pSp / e4e checkpoints): module and buffer names reproduce that layout key for key,
including the ``*.blur.kernel`` / ``*.upsample.kernel`` FIR buffers and the ``noises.noise_i`` constant noise maps,
so published files load with ``strict=True``. Numerics follow the same code (equalised learning rate, weight
demodulation with eps 1e-8, transposed conv + [1,3,3,1] blur upsampling, noise then bias + leaky ReLU ×√2, ToRGB
skips upsampled by ``upfirdn2d``). Custom ops are plain PyTorch (:mod:`faceedit.models.ops`).

The file follows the paper's Figure 2(d): mapping network (``PixelNorm`` + ``EqualLinear`` ×8) → constant input →
per resolution: modulated 3×3 conv (upsampling) + noise + activation, modulated 3×3 conv + noise + activation,
``ToRGB`` added to the upsampled skip image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from faceedit.errors import InvalidArgumentError
from faceedit.models.ops import FusedLeakyReLU, fused_leaky_relu, make_kernel, upfirdn2d

__all__ = [
    "Blur",
    "ConstantInput",
    "EqualConv2d",
    "EqualLinear",
    "Generator",
    "ModulatedConv2d",
    "NoiseInjection",
    "PixelNorm",
    "StyledConv",
    "ToRGB",
    "Upsample",
]

NoiseMode = Literal["const", "random", "none"]

#: Channels per resolution for channel multiplier 1 (rosinality ``Generator.channels``; ×cm from 64 px up).
_BASE_CHANNELS = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}


def generator_channels(size: int, channel_multiplier: int) -> dict[int, int]:
    """Feature channels at each resolution up to ``size``."""
    return {r: c * (channel_multiplier if r >= 64 else 1) for r, c in _BASE_CHANNELS.items() if r <= size}


class _FIR(nn.Module):
    """Holds a 2-D FIR ``kernel`` buffer (a checkpoint entry) and caches its depthwise conv weight."""

    kernel: torch.Tensor

    def __init__(self, kernel: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("kernel", kernel)
        self._cache: tuple[tuple, torch.Tensor] | None = None

    def _weight(self, channels: int, dtype: torch.dtype, flip: bool) -> torch.Tensor:
        """``[C, 1, kh, kw]`` filter weight, rebuilt only when the kernel buffer, dtype or width changes."""
        k = self.kernel
        key = (channels, dtype, k.device, k.data_ptr(), flip)
        if self._cache is None or self._cache[0] != key:
            w = (k.flip(0, 1) if flip else k).to(dtype)
            self._cache = (key, w[None, None].expand(channels, 1, *k.shape).contiguous())
        return self._cache[1]

    def _load_from_state_dict(self, *args, **kwargs) -> None:  # a new kernel invalidates the cached weight
        self._cache = None
        super()._load_from_state_dict(*args, **kwargs)


class Upsample(_FIR):
    """×2 upsampling with the FIR filter (``upfirdn2d`` up=2); used on the ToRGB skip image."""

    def __init__(
        self,
        kernel: Sequence[float],  # 1-D taps, e.g. (1, 3, 3, 1)
        factor: int = 2,  # upsampling factor
    ) -> None:
        super().__init__(make_kernel(kernel) * factor**2)
        self.factor = factor
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self._weight(x.shape[1], x.dtype, flip=False)
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad, weight=w)


class Blur(_FIR):
    """FIR low-pass filter (``upfirdn2d`` with padding only); follows the transposed conv when upsampling."""

    def __init__(
        self,
        kernel: Sequence[float],  # 1-D taps
        pad: tuple[int, int],  # (before, after) padding on both axes
        upsample_factor: int = 1,  # kernel gain factor**2 compensates the zeros of an upsampling
    ) -> None:
        k = make_kernel(kernel)
        if upsample_factor > 1:
            k = k * upsample_factor**2
        super().__init__(k)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self._weight(x.shape[1], x.dtype, flip=True)
        return upfirdn2d(x, self.kernel, pad=self.pad, weight=w)


class PixelNorm(nn.Module):
    """Normalise each latent vector to unit second moment (mapping network input)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x**2, dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate: weight × (lr_mul / √in), bias × lr_mul, optional fused lrelu."""

    def __init__(
        self,
        in_dim: int,  # input features
        out_dim: int,  # output features
        bias: bool = True,  # learnable bias
        bias_init: float = 0.0,  # initial bias value (1 for style modulation)
        lr_mul: float = 1.0,  # learning-rate multiplier (0.01 in the mapping network)
        activation: str | None = None,  # "fused_lrelu" or None
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.zeros(out_dim).fill_(bias_init)) if bias else None
        self.activation = activation
        self.scale = (1 / math.sqrt(in_dim)) * lr_mul
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the official order of operations (bit-identical latents); the weight scaling is negligible here
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        bias = self.bias * self.lr_mul if self.bias is not None else None
        return F.linear(x, self.weight * self.scale, bias=bias)


class EqualConv2d(nn.Module):
    """Conv2d with equalised learning rate (weight × 1/√fan_in)."""

    def __init__(
        self,
        in_channel: int,  # input channels
        out_channel: int,  # output channels
        kernel_size: int,  # square kernel side
        stride: int = 1,  # convolution stride
        padding: int = 0,  # zero padding
        bias: bool = True,  # learnable bias
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channel, in_channel, kernel_size, kernel_size))
        self.scale = 1 / math.sqrt(in_channel * kernel_size**2)
        self.stride = stride
        self.padding = padding
        self.bias = nn.Parameter(torch.zeros(out_channel)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, bias=self.bias, stride=self.stride, padding=self.padding)


class ModulatedConv2d(nn.Module):
    """Style-modulated convolution (paper eq. 1–3): w'_ijk = s_i·w_ijk, then demodulate by 1/√(Σ w'² + ε).

    Computed in the equivalent activation form (the paper's Section 2.2 remark, and rosinality's ``fused=False``
    path): scale the input channels by s, convolve with the *shared* weight, multiply each output channel by
    its demodulation factor σ⁻¹ = rsqrt(Σ_i s_i² Σ_k w_ik² + ε). This is one ordinary (batched) convolution
    instead of building N modulated weight tensors per call; Σ_k w² is cached between calls.
    Upsampling is a stride-2 transposed convolution followed by the FIR blur, as the official code.
    """

    def __init__(
        self,
        in_channel: int,  # input channels
        out_channel: int,  # output channels
        kernel_size: int,  # square kernel side
        style_dim: int,  # latent (w) width
        demodulate: bool = True,  # weight demodulation (off for ToRGB)
        upsample: bool = False,  # ×2 upsampling (transposed conv + blur)
        blur_kernel: Sequence[float] = (1, 3, 3, 1),  # FIR taps of the blur
    ) -> None:
        super().__init__()
        self.eps = 1e-8
        self.kernel_size = kernel_size
        self.in_channel = in_channel
        self.out_channel = out_channel
        self.upsample = upsample
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)
        self.scale = 1 / math.sqrt(in_channel * kernel_size**2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1)
        self.demodulate = demodulate
        self._wsq: tuple[tuple, torch.Tensor] | None = None

    def _load_from_state_dict(self, *args, **kwargs) -> None:  # new weights invalidate the cache
        self._wsq = None
        super()._load_from_state_dict(*args, **kwargs)

    def _weight_sq(self) -> torch.Tensor:
        """Σ_k w² per (out, in) pair, [out, in] in float32; cached unless the weight is being trained."""
        w = self.weight
        if torch.is_grad_enabled() and w.requires_grad:
            return w[0].float().square().sum([2, 3])
        key = (w.data_ptr(), w.device, w.dtype, getattr(w, "_version", None) if not w.is_inference() else -1)
        if self._wsq is None or self._wsq[0] != key:
            self._wsq = (key, w[0].detach().float().square().sum([2, 3]))
        return self._wsq[1]

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        s = self.modulation(style) * self.scale  # [N, in]: equalised-lr scale folded into the style
        demod = None
        if self.demodulate:  # σ⁻¹ = rsqrt(Σ_i s_i² Σ_k w_oik² + ε), [N, out], in fp32
            demod = torch.rsqrt(s.float().square() @ self._weight_sq().T + self.eps)
        weight = self.weight[0]  # [out, in, k, k]
        if self.kernel_size == 1 and not self.upsample:
            # ToRGB: a per-pixel matrix product; far faster than a 1×1 conv with 3 output channels
            wm = weight[None, :, :, 0, 0] * s[:, None, :]  # [N, out, in]
            if demod is not None:
                wm = wm * demod[:, :, None]
            out = x.permute(0, 2, 3, 1).reshape(n, h * w, c) @ wm.to(x.dtype).transpose(1, 2)
            return out.view(n, h, w, self.out_channel).permute(0, 3, 1, 2)
        k2 = self.kernel_size**2
        if n == 1 and self.out_channel * k2 < h * w:
            # one sample at high resolution: modulating the weight is cheaper than scaling the activations
            scale = s[0, None, :] * (demod[0, :, None] if demod is not None else 1.0)  # [out, in]
            if self.upsample:  # conv_transpose2d wants [in, out, k, k]
                wm = torch.empty_like(weight.transpose(0, 1), memory_format=torch.contiguous_format)
                torch.mul(weight.transpose(0, 1), scale.T[:, :, None, None].to(weight.dtype), out=wm)
                out = F.conv_transpose2d(x, wm.to(x.dtype), stride=2)
            else:
                out = F.conv2d(x, (weight * scale[:, :, None, None].to(weight.dtype)).to(x.dtype), padding=self.padding)
        else:
            x = x * s.to(x.dtype).view(n, c, 1, 1)
            wx = weight.to(x.dtype)
            if self.upsample:
                out = F.conv_transpose2d(x, wx.transpose(0, 1), stride=2)
            else:
                out = F.conv2d(x, wx, padding=self.padding)
            if demod is not None:
                out = out * demod.to(out.dtype).view(n, self.out_channel, 1, 1)
        if self.upsample:
            out = self.blur(out)
        return out


class NoiseInjection(nn.Module):
    """Adds per-pixel noise scaled by a learned strength (``weight``, one scalar per layer)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, image: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        """``noise`` [N or 1, 1, H, W]; ``None`` adds nothing (the generator draws random noise itself)."""
        if noise is None:
            return image
        if not torch.is_grad_enabled():  # the conv output is a fresh buffer: add in place
            return image.add_(self.weight.to(image.dtype) * noise.to(image.dtype))
        return image + self.weight * noise.to(image.dtype)


class ConstantInput(nn.Module):
    """The learned 4×4 constant the synthesis network starts from."""

    def __init__(self, channel: int, size: int = 4) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.expand(batch, -1, -1, -1)


class StyledConv(nn.Module):
    """Modulated conv → noise → bias + leaky ReLU (one box of the synthesis network)."""

    def __init__(
        self,
        in_channel: int,  # input channels
        out_channel: int,  # output channels
        kernel_size: int,  # square kernel side
        style_dim: int,  # latent width
        upsample: bool = False,  # ×2 upsampling
        blur_kernel: Sequence[float] = (1, 3, 3, 1),  # FIR taps
        demodulate: bool = True,  # weight demodulation
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(
            in_channel,
            out_channel,
            kernel_size,
            style_dim,
            upsample=upsample,
            blur_kernel=blur_kernel,
            demodulate=demodulate,
        )
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        out = self.noise(self.conv(x, style), noise)
        act = self.activate  # the conv output is ours: bias and activation may run in place on it
        return fused_leaky_relu(out, act.bias, act.negative_slope, act.scale, inplace=True)


class ToRGB(nn.Module):
    """1×1 modulated conv (no demodulation) to RGB + bias, added to the upsampled skip image."""

    def __init__(
        self,
        in_channel: int,  # input channels
        style_dim: int,  # latent width
        upsample: bool = True,  # upsample the incoming skip image
        blur_kernel: Sequence[float] = (1, 3, 3, 1),  # FIR taps of that upsampling
    ) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class Generator(nn.Module):
    """StyleGAN2 generator, rosinality layout: ``style`` (mapping), ``input``, ``conv1``, ``to_rgb1``,
    ``convs``, ``upsamples`` (empty, kept for the layout), ``to_rgbs``, ``noises.noise_i``.

    ``forward`` keeps the official signature; :meth:`synthesis` maps a W+ code straight to an image with
    constant noise by default. Anything random takes a ``torch.Generator``.
    """

    def __init__(
        self,
        size: int,  # output side: a power of two, 64..1024 (any ≥ 8 works)
        style_dim: int = 512,  # width of z and w
        n_mlp: int = 8,  # mapping network depth
        channel_multiplier: int = 2,  # 2 for config-f (FFHQ 1024), 1 for smaller models
        blur_kernel: Sequence[float] = (1, 3, 3, 1),  # FIR taps for up-sampling
        lr_mlp: float = 0.01,  # mapping network learning-rate multiplier
    ) -> None:
        super().__init__()
        log_size = int(math.log2(size))
        if size < 8 or 2**log_size != size:
            raise InvalidArgumentError(f"StyleGAN2 size must be a power of two ≥ 8, got {size}")
        if channel_multiplier < 1:
            raise InvalidArgumentError(f"channel_multiplier must be ≥ 1, got {channel_multiplier}")
        self.size = size
        self.style_dim = style_dim
        self.channel_multiplier = channel_multiplier
        self.style = nn.Sequential(
            PixelNorm(),
            *[EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation="fused_lrelu") for _ in range(n_mlp)],
        )
        self.channels = generator_channels(size, channel_multiplier)
        self.input = ConstantInput(self.channels[4])
        self.conv1 = StyledConv(self.channels[4], self.channels[4], 3, style_dim, blur_kernel=blur_kernel)
        self.to_rgb1 = ToRGB(self.channels[4], style_dim, upsample=False)
        self.log_size = log_size
        self.num_layers = (log_size - 2) * 2 + 1
        self.convs = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for layer_idx in range(self.num_layers):
            res = 2 ** ((layer_idx + 5) // 2)
            self.noises.register_buffer(f"noise_{layer_idx}", torch.randn(1, 1, res, res))
        in_channel = self.channels[4]
        for i in range(3, log_size + 1):
            out_channel = self.channels[2**i]
            self.convs.append(StyledConv(in_channel, out_channel, 3, style_dim, upsample=True, blur_kernel=blur_kernel))
            self.convs.append(StyledConv(out_channel, out_channel, 3, style_dim, blur_kernel=blur_kernel))
            self.to_rgbs.append(ToRGB(out_channel, style_dim, blur_kernel=blur_kernel))
            in_channel = out_channel
        self.n_latent = log_size * 2 - 2

    # ------------------------------------------------------------------ mapping
    def get_latent(self, z: torch.Tensor) -> torch.Tensor:
        """Mapping network: z [N, 512] → w [N, 512]."""
        return self.style(z)

    @torch.no_grad()
    def mean_latent(self, n_latent: int = 4096, generator: torch.Generator | None = None) -> torch.Tensor:
        """Average w over ``n_latent`` random z, [1, style_dim]; deterministic (seed 0) without a generator.

        z is drawn on the generator's device (CPU by default), so a seed gives the same w̄ on every device.
        """
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        z = torch.randn(n_latent, self.style_dim, generator=generator, device=generator.device)
        p = self.input.input
        return self.style(z.to(device=p.device, dtype=p.dtype)).mean(0, keepdim=True)

    # ------------------------------------------------------------------ noise
    def stored_noise(self) -> list[torch.Tensor]:
        """The constant ``noises.noise_i`` buffers, one per layer."""
        return [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]

    def make_noise(self, batch: int = 1, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Fresh Gaussian noise maps [batch, 1, r, r] for every layer, drawn from ``generator``."""
        dev = generator.device if generator is not None else torch.device("cpu")
        target = self.input.input
        out = []
        for i in range(self.num_layers):
            res = 2 ** ((i + 5) // 2)
            out.append(torch.randn(batch, 1, res, res, generator=generator, device=dev).to(target.device))
        return out

    def _noise_for(
        self, mode: NoiseMode, batch: int, generator: torch.Generator | None
    ) -> list[torch.Tensor | None]:
        if mode == "const":
            return list(self.stored_noise())
        if mode == "random":
            return list(self.make_noise(batch, generator))
        if mode == "none":
            return [None] * self.num_layers
        raise InvalidArgumentError(f"noise_mode must be 'const', 'random' or 'none', got {mode!r}")

    # ------------------------------------------------------------------ synthesis
    def synthesis(
        self,
        w_plus: torch.Tensor,  # [N, n_latent, style_dim]
        noise_mode: NoiseMode = "const",  # stored buffers / fresh noise from `generator` / no noise
        generator: torch.Generator | None = None,  # randomness for noise_mode="random"
        noise: Sequence[torch.Tensor | None] | None = None,  # explicit per-layer noise (overrides noise_mode)
    ) -> torch.Tensor:
        """W+ code → image [N, 3, size, size] (roughly in [-1, 1])."""
        return self._synthesize(w_plus, self._checked_noise(w_plus, noise_mode, generator, noise))

    def _checked_noise(self, w_plus: torch.Tensor, noise_mode: NoiseMode, generator: torch.Generator | None,
                       noise: Sequence[torch.Tensor | None] | None) -> Sequence[torch.Tensor | None]:
        """The per-layer noise of a synthesis call, after checking the W+ code's shape."""
        if w_plus.ndim != 3 or w_plus.shape[1:] != (self.n_latent, self.style_dim):
            raise InvalidArgumentError(
                f"w_plus must have shape [N, {self.n_latent}, {self.style_dim}], got {tuple(w_plus.shape)}"
            )
        if noise is None:
            return self._noise_for(noise_mode, w_plus.shape[0], generator)
        if len(noise) != self.num_layers:
            raise InvalidArgumentError(f"noise must list {self.num_layers} maps, got {len(noise)}")
        return noise

    def synthesis_to(
        self,
        w_plus: torch.Tensor,  # [N, n_latent, style_dim]
        resolution: int,  # a power of two, 4..size
        noise_mode: NoiseMode = "const",
        generator: torch.Generator | None = None,
        noise: Sequence[torch.Tensor | None] | None = None,
    ) -> torch.Tensor:
        """The skip branch's RGB image at ``resolution``, [N, 3, resolution, resolution]: a preview.

        StyleGAN2's output is the sum of every level's ToRGB, each upsampled; the running sum at a lower
        level is a low-resolution image of the same face.  This runs :meth:`synthesis` only up to that
        level (the same prefix of the same pass, nothing after it), so at 256 px of a 1024 px generator it
        costs about half the full pass.  ``resolution == size`` is :meth:`synthesis` itself.
        """
        log_res = int(math.log2(resolution)) if resolution >= 4 else 0
        if resolution < 4 or 2**log_res != resolution or resolution > self.size:
            raise InvalidArgumentError(f"resolution must be a power of two in 4..{self.size}, got {resolution}")
        return self._synthesize(w_plus, self._checked_noise(w_plus, noise_mode, generator, noise), levels=log_res - 2)

    def _synthesize(self, latent: torch.Tensor, noise: Sequence[torch.Tensor | None],
                    levels: int | None = None) -> torch.Tensor:
        """The synthesis pass; ``levels``: how many upsampling levels after 4 px to run (None: all)."""
        latent = latent.to(self.input.input.dtype)
        # channels-last runs the convolutions (and above all the transposed ones) markedly faster on CPU
        out = self.input(latent.shape[0]).contiguous(memory_format=torch.channels_last)
        out = self.conv1(out, latent[:, 0], noise=noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        i = 1
        for level, (conv1, conv2, noise1, noise2, to_rgb) in enumerate(zip(
            self.convs[::2], self.convs[1::2], noise[1::2], noise[2::2], self.to_rgbs
        )):
            if levels is not None and level >= levels:
                break
            out = conv1(out, latent[:, i], noise=noise1)
            out = conv2(out, latent[:, i + 1], noise=noise2)
            skip = to_rgb(out, latent[:, i + 2], skip)
            i += 2
        return skip.contiguous()

    # ------------------------------------------------------------------ official entry point
    def forward(
        self,
        styles: Sequence[torch.Tensor],  # list of z [N, 512] (or w / W+ with input_is_latent)
        return_latents: bool = False,  # also return the W+ code used
        inject_index: int | None = None,  # style-mixing crossover layer (two styles)
        truncation: float = 1.0,  # ψ; < 1 pulls every style towards truncation_latent
        truncation_latent: torch.Tensor | None = None,  # w̄ [1, 512]
        input_is_latent: bool = False,  # styles are already w (skip the mapping network)
        noise: Sequence[torch.Tensor | None] | None = None,  # explicit per-layer noise maps
        randomize_noise: bool = True,  # fresh noise (from `generator`) instead of the stored buffers
        generator: torch.Generator | None = None,  # randomness: noise and the mixing index
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Official rosinality call: returns ``(image, latent or None)``."""
        if isinstance(styles, torch.Tensor):
            styles = [styles]
        if not input_is_latent:
            styles = [self.style(s) for s in styles]
        if noise is None:
            batch = styles[0].shape[0]
            noise = self._noise_for("random" if randomize_noise else "const", batch, generator)
        if truncation < 1:
            if truncation_latent is None:
                raise InvalidArgumentError("truncation < 1 needs truncation_latent (e.g. generator.mean_latent())")
            styles = [truncation_latent + truncation * (s - truncation_latent) for s in styles]
        if len(styles) < 2:
            inject_index = self.n_latent
            latent = styles[0].unsqueeze(1).repeat(1, inject_index, 1) if styles[0].ndim < 3 else styles[0]
        else:
            if inject_index is None:
                dev = generator.device if generator is not None else torch.device("cpu")
                inject_index = int(torch.randint(1, self.n_latent, (1,), generator=generator, device=dev).item())
            latent = styles[0].unsqueeze(1).repeat(1, inject_index, 1)
            latent2 = styles[1].unsqueeze(1).repeat(1, self.n_latent - inject_index, 1)
            latent = torch.cat([latent, latent2], 1)
        if latent.ndim != 3 or latent.shape[1:] != (self.n_latent, self.style_dim):
            raise InvalidArgumentError(
                f"styles must give [N, {self.n_latent}, {self.style_dim}] codes, got {tuple(latent.shape)}"
            )
        image = self._synthesize(latent, noise)
        return (image, latent) if return_latents else (image, None)
