"""CLIP ViT image and text towers, Radford et al., "Learning Transferable Visual Models From Natural Language
Supervision", ICML 2021; state dict of openai/CLIP @d05afc4 ``clip/model.py`` (ViT-B/32, ViT-B/16).

The attribute tree reproduces OpenAI's state dict key for key (``visual.conv1.weight``,
``visual.transformer.resblocks.i.attn.in_proj_weight``, ``token_embedding.weight``, ``text_projection``, …), so
the published weights load with ``strict=True``. OpenAI's checkpoints are TorchScript archives:
:func:`read_torchscript_tensors` reads their tensors with a restricted unpickler and runs none of their code.

Beside the official embeddings, :meth:`CLIP.encode_image_with_tokens` returns the residual-stream tokens after one
vision block (CLS dropped), the features DiFa's local attentive-style loss matches (block index 3 by default).
Layer norms compute in fp32 whatever the weights' dtype, as OpenAI's ``LayerNorm`` does.
"""

from __future__ import annotations

import math
import pickle
import re
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from faceedit.errors import CheckpointLayoutError, InvalidArgumentError
from faceedit.models import load_strict

__all__ = [
    "CLIP",
    "CLIP_MEAN",
    "CLIP_STD",
    "clip_config",
    "load_clip",
    "load_clip_file",
    "read_torchscript_tensors",
]

#: OpenAI's image normalisation (``clip/clip.py`` ``_transform``).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class LayerNorm(nn.LayerNorm):
    """Layer norm computed in fp32, cast back to the input dtype (OpenAI's fp16-safe subclass)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).to(x.dtype)


class QuickGELU(nn.Module):
    """x·σ(1.702x), the GELU approximation CLIP was trained with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    """Pre-norm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(
        self,
        width: int,  # token width d_model
        heads: int,  # attention heads (width / 64)
        causal: bool = False,  # text tower: each token sees only itself and the tokens before it
        context: int = 77,  # sequence length of the causal mask
    ) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_1 = LayerNorm(width)
        self.mlp = nn.Sequential(
            OrderedDict(
                [("c_fc", nn.Linear(width, width * 4)), ("gelu", QuickGELU()), ("c_proj", nn.Linear(width * 4, width))]
            )
        )
        self.ln_2 = LayerNorm(width)
        mask = torch.full((context, context), float("-inf")).triu_(1) if causal else None
        self.register_buffer("attn_mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, L, width]
        h = self.ln_1(x)
        mask = None if self.attn_mask is None else self.attn_mask[: x.shape[1], : x.shape[1]].to(x.dtype)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    """``layers`` residual attention blocks, keys ``resblocks.i.*``."""

    def __init__(self, width: int, layers: int, heads: int, causal: bool = False, context: int = 77) -> None:
        super().__init__()
        self.width = width
        self.layers = layers
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, causal, context) for _ in range(layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    """Patch embedding → [CLS] + positions → ln_pre → blocks → ln_post(CLS) @ proj."""

    def __init__(
        self,
        input_resolution: int,  # 224
        patch_size: int,  # 32 (B/32) or 16 (B/16)
        width: int,  # 768
        layers: int,  # 12
        heads: int,  # 12
        output_dim: int,  # joint embedding width, 512
    ) -> None:
        super().__init__()
        self.input_resolution = input_resolution
        self.patch_size = patch_size
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        grid = input_resolution // patch_size
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.positional_embedding = nn.Parameter(torch.zeros(grid * grid + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(torch.zeros(width, output_dim))

    def forward(
        self,
        x: torch.Tensor,  # [N, 3, R, R], CLIP-normalised
        token_layer: int | None = None,  # also return the tokens after this block (CLS dropped)
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """→ (embedding [N, output_dim], tokens [N, grid², width] or None)."""
        r = self.input_resolution
        if x.ndim != 4 or x.shape[1:] != (3, r, r):
            raise InvalidArgumentError(f"CLIP's image tower takes [N, 3, {r}, {r}] images, got {tuple(x.shape)}")
        x = self.conv1(x.to(self.conv1.weight.dtype)).flatten(2).transpose(1, 2)  # [N, grid², width]
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x)
        tokens = None
        for i, block in enumerate(self.transformer.resblocks):
            x = block(x)
            if i == token_layer:
                tokens = x[:, 1:]
        return self.ln_post(x[:, 0]) @ self.proj, tokens


class CLIP(nn.Module):
    """Both CLIP towers in OpenAI's layout: ``visual.*`` and the text ``transformer.*`` + embeddings."""

    def __init__(
        self,
        embed_dim: int = 512,  # joint embedding width
        image_resolution: int = 224,  # input side of the image tower
        vision_layers: int = 12,  # vision transformer depth
        vision_width: int = 768,  # vision token width
        vision_patch_size: int = 32,  # 32 for ViT-B/32, 16 for ViT-B/16
        context_length: int = 77,  # text tokens per prompt
        vocab_size: int = 49408,  # BPE vocabulary
        transformer_width: int = 512,  # text token width
        transformer_heads: int = 8,  # text attention heads
        transformer_layers: int = 12,  # text transformer depth
    ) -> None:
        super().__init__()
        self.context_length = context_length
        self.visual = VisionTransformer(
            image_resolution, vision_patch_size, vision_width, vision_layers, vision_width // 64, embed_dim
        )
        self.transformer = Transformer(
            transformer_width, transformer_layers, transformer_heads, causal=True, context=context_length
        )
        self.vocab_size = vocab_size
        self.token_embedding = nn.Embedding(vocab_size, transformer_width)
        self.positional_embedding = nn.Parameter(torch.zeros(context_length, transformer_width))
        self.ln_final = LayerNorm(transformer_width)
        self.text_projection = nn.Parameter(torch.zeros(transformer_width, embed_dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    @property
    def dtype(self) -> torch.dtype:
        return self.visual.conv1.weight.dtype

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        """CLIP-normalised images [N, 3, R, R] → image embeddings [N, embed_dim] (not L2-normalised)."""
        return self.visual(image)[0]

    def encode_image_with_tokens(self, image: torch.Tensor, layer: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
        """→ (embedding [N, embed_dim], tokens [N, grid², vision_width] after block ``layer``, CLS dropped)."""
        if not 0 <= layer < len(self.visual.transformer.resblocks):
            raise InvalidArgumentError(
                f"layer must be in 0..{len(self.visual.transformer.resblocks) - 1}, got {layer}"
            )
        emb, tokens = self.visual(image, token_layer=layer)
        assert tokens is not None
        return emb, tokens

    def encode_text(self, text: torch.Tensor) -> torch.Tensor:
        """Token ids [N, context_length] (from :func:`faceedit.models.clip_tokenizer.tokenize`) → [N, embed_dim].

        The feature is read at each row's end-of-text token, the row's highest id.
        """
        if text.ndim != 2 or text.shape[1] > self.context_length:
            raise InvalidArgumentError(
                f"text must be [N, ≤{self.context_length}] token ids, got {tuple(text.shape)}"
            )
        x = self.token_embedding(text).to(self.dtype) + self.positional_embedding[: text.shape[1]].to(self.dtype)
        x = self.ln_final(self.transformer(x))
        return x[torch.arange(x.shape[0], device=x.device), text.argmax(dim=-1)] @ self.text_projection

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Official call: (logits_per_image [N_img, N_txt], logits_per_text)."""
        i = self.encode_image(image)
        t = self.encode_text(text)
        i = i / i.norm(dim=1, keepdim=True)
        t = t / t.norm(dim=1, keepdim=True)
        logits = self.logit_scale.exp() * i @ t.t()
        return logits, logits.t()


# ---------------------------------------------------------------------------------------------- loading
def clip_config(state_dict: Mapping[str, torch.Tensor]) -> dict[str, int]:
    """Constructor arguments read off an OpenAI-layout ViT CLIP state dict."""
    if "visual.conv1.weight" not in state_dict or "text_projection" not in state_dict:
        found = "visual.layer1" if any(k.startswith("visual.layer1.") for k in state_dict) else None
        hint = " It looks like a ResNet CLIP, which is not supported." if found else ""
        raise CheckpointLayoutError(
            "This is not a ViT CLIP state dict (OpenAI layout): 'visual.conv1.weight' or 'text_projection' is missing."
            + hint
        )

    def depth(prefix: str) -> int:
        pat = re.compile(re.escape(prefix) + r"(\d+)\.")
        return len({m.group(1) for k in state_dict if (m := pat.match(k))})

    conv = state_dict["visual.conv1.weight"]
    grid = round((state_dict["visual.positional_embedding"].shape[0] - 1) ** 0.5)
    width = int(state_dict["ln_final.weight"].shape[0])
    return {
        "embed_dim": int(state_dict["text_projection"].shape[1]),
        "image_resolution": int(conv.shape[-1]) * grid,
        "vision_layers": depth("visual.transformer.resblocks."),
        "vision_width": int(conv.shape[0]),
        "vision_patch_size": int(conv.shape[-1]),
        "context_length": int(state_dict["positional_embedding"].shape[0]),
        "vocab_size": int(state_dict["token_embedding.weight"].shape[0]),
        "transformer_width": width,
        "transformer_heads": width // 64,
        "transformer_layers": depth("transformer.resblocks."),
    }


def load_clip(
    ckpt: Mapping[str, Any],  # an OpenAI-layout state dict (from read_torchscript_tensors, torch.load or safetensors)
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = torch.float32,  # OpenAI's files hold fp16 matmul weights; fp32 unless asked
) -> CLIP:
    """OpenAI-layout CLIP state dict → frozen :class:`CLIP` in eval mode (strict load).

    The scalar entries ``input_resolution``, ``context_length`` and ``vocab_size`` that OpenAI's archives carry
    are dropped, as ``clip/model.py`` ``build_model`` does; everything else must match exactly.
    """
    sd = {k: v for k, v in ckpt.items() if k not in ("input_resolution", "context_length", "vocab_size")}
    sd = {k: v for k, v in sd.items() if not k.endswith(".attn_mask")}  # a traced block's constant, no weight
    with torch.device("meta"):
        model = CLIP(**clip_config(sd))
    load_strict(model, sd, "CLIP", assign=True)
    # buffers built on meta (the causal masks) are rebuilt for real
    for block in model.transformer.resblocks:
        n = model.context_length
        block.attn_mask = torch.full((n, n), float("-inf")).triu_(1)
    if dtype is not None:
        model = model.to(dtype=dtype)
    for block in model.transformer.resblocks:  # the mask stays fp32; it is cast at use
        block.attn_mask = block.attn_mask.float()
    return model.to(device=device or "cpu").eval().requires_grad_(False)


# ---------------------------------------------------------------------------------------------- TorchScript
_STORAGE_DTYPES = {
    "HalfStorage": torch.float16,
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


class _ScriptObject:
    """Stands in for a ``__torch__.*`` class of a TorchScript pickle: keeps the attribute dict, runs nothing."""

    attrs: dict[str, Any] = {}  # NEWOBJ skips __init__; __setstate__ fills it per object

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):
            self.attrs = state


def _rebuild_tensor(
    flat: torch.Tensor, offset: int, size: tuple, stride: tuple, *rest: Any
) -> torch.Tensor:
    return torch.as_strided(flat, tuple(size), tuple(stride), offset)


def _ordered_dict(*args: Any) -> OrderedDict:
    return OrderedDict(*args)


class _TensorOnlyUnpickler(pickle.Unpickler):
    """Rebuilds tensors, ordered dicts and placeholder objects; any other global is refused."""

    def __init__(self, data: bytes, storages: dict[str, bytes]) -> None:
        import io

        super().__init__(io.BytesIO(data))
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if module == "collections" and name == "OrderedDict":
            return _ordered_dict
        if module == "__torch__" or module.startswith("__torch__."):
            return _ScriptObject
        raise pickle.UnpicklingError(f"refused to load {module}.{name} from a TorchScript archive")

    def persistent_load(self, pid: Any) -> torch.Tensor:
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        dtype, key = pid[1], str(pid[2])
        if not isinstance(dtype, torch.dtype) or key not in self._storages:
            raise pickle.UnpicklingError(f"storage {key!r} ({dtype}) is not in the archive")
        raw = self._storages[key]
        if not raw:
            return torch.empty(0, dtype=dtype)
        return torch.frombuffer(bytearray(raw), dtype=dtype)


def _flatten(obj: Any, prefix: str, out: dict[str, torch.Tensor]) -> None:
    for name, value in obj.attrs.items():
        if isinstance(value, torch.Tensor):
            out[prefix + name] = value
        elif isinstance(value, _ScriptObject):
            _flatten(value, f"{prefix}{name}.", out)


def read_torchscript_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """The parameters and buffers of a ``torch.jit.save`` archive as a flat state dict, without running its code.

    The archive's ``data.pkl`` is read by an unpickler that only rebuilds tensors, ordered dicts and inert
    placeholders for the scripted classes; the ``code/`` folder is never read.
    """
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise CheckpointLayoutError(f"{path.name} is not a TorchScript archive (not a zip file).") from exc
    with zf:
        names = zf.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pkl or not any(n.endswith("/code/__torch__.py") or "/code/" in n for n in names):
            raise CheckpointLayoutError(f"{path.name} is not a TorchScript archive (no data.pkl and code/).")
        root = pkl[0].split("/")[0]
        storages = {n[len(root) + 6 :]: zf.read(n) for n in names if n.startswith(root + "/data/")}
        try:
            obj = _TensorOnlyUnpickler(zf.read(pkl[0]), storages).load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
            raise CheckpointLayoutError(f"{path.name}: its tensors could not be read safely ({exc}).") from exc
    if not isinstance(obj, _ScriptObject):
        raise CheckpointLayoutError(f"{path.name}: the archive's root object is not a scripted module.")
    out: dict[str, torch.Tensor] = {}
    _flatten(obj, "", out)
    return {k: v.clone() for k, v in out.items()}


def load_clip_file(
    path: str | Path,  # OpenAI's TorchScript .pt, a .safetensors copy, or a plain torch.save state dict
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = torch.float32,
) -> CLIP:
    """Read a CLIP checkpoint file safely (no code runs) and load it strictly."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        sd: Mapping[str, Any] = load_file(str(path))
    elif zipfile.is_zipfile(path) and any("/code/" in n for n in zipfile.ZipFile(path).namelist()):
        sd = read_torchscript_tensors(path)
    else:
        sd = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(sd, Mapping) and isinstance(sd.get("state_dict"), Mapping):
            sd = sd["state_dict"]
    return load_clip(sd, device=device, dtype=dtype)
