"""CLIP ViT-B/32 and B/16: strict loads (TorchScript archive, safetensors), parity with openai/CLIP, tokenizer."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from faceedit.errors import CheckpointLayoutError, InvalidArgumentError
from faceedit.models.clip import CLIP, load_clip, load_clip_file, read_torchscript_tensors
from faceedit.models.clip_tokenizer import tokenize
from tests.layouts import random_state_dict

DATA = Path(__file__).resolve().parent / "data" / "clip"
PROMPTS = ["a photo of a face", "an anime drawing of a smiling woman", "Ukiyo-e print, 19th century!"]

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_clip() -> CLIP:
    torch.manual_seed(0)
    m = CLIP(embed_dim=16, image_resolution=32, vision_layers=2, vision_width=64, vision_patch_size=16,
             context_length=8, vocab_size=50, transformer_width=64, transformer_heads=1, transformer_layers=2)
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.05)
    return m.eval()


def test_tokenizer_matches_official_ids():
    ref = load_file(str(DATA / "ViT-B-32-ref.safetensors"))["text_ids"]
    assert torch.equal(tokenize(PROMPTS), ref)
    assert tokenize("a photo")[0, :4].tolist() == [49406, 320, 1125, 49407]
    with pytest.raises(InvalidArgumentError, match="at most 77"):
        tokenize("word " * 80)
    assert tokenize("word " * 80, truncate=True)[0, -1].item() == 49407


@pytest.mark.parametrize("name,seed,stride", [("ViT-B-32", 32, 1), ("ViT-B-16", 16, 4)])
def test_parity_with_official_clip(name, seed, stride):
    """Image/text embeddings and block-3 tokens vs openai/CLIP on the same seeded weights (tests/data/clip/README.md)."""
    ref = load_file(str(DATA / f"{name}-ref.safetensors"))
    model = load_clip(random_state_dict(DATA / f"{name}.json", seed=seed, fan_in=True))
    image = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(seed + 1))
    with torch.inference_mode():
        emb, tokens = model.encode_image_with_tokens(image, layer=3)
        text = model.encode_text(ref["text_ids"])
    for key, value in (("image_embedding", emb), ("text_embedding", text), ("tokens", tokens[:, ::stride])):
        tol = 10 * ref[f"{key}.fp32_err"].item() + 1e-6  # 10x the official code's own fp32-vs-fp64 error
        err = (value - ref[key]).abs().max().item()
        assert err <= tol, f"{name} {key}: max abs error {err:.2e} > {tol:.2e}"
    assert torch.equal(model.encode_image(image), emb)


def test_torchscript_archive_is_read_without_running_code(tmp_path):
    model = tiny_clip()
    image, text = torch.randn(2, 3, 32, 32), torch.tensor([[49, 3, 4, 0, 0, 0, 0, 0], [5, 49, 0, 0, 0, 0, 0, 0]])
    traced = torch.jit.trace(model, (image, text), check_trace=False)
    torch.jit.save(traced, tmp_path / "tiny.pt")
    sd = read_torchscript_tensors(tmp_path / "tiny.pt")
    # every weight, plus the text blocks' causal masks (an attribute in the archive, dropped by load_clip)
    assert set(sd) - {k for k in sd if k.endswith(".attn_mask")} == set(model.state_dict())
    assert all(torch.equal(sd[k], v) for k, v in model.state_dict().items())
    loaded = load_clip_file(tmp_path / "tiny.pt")
    with torch.inference_mode():
        assert torch.allclose(loaded.encode_image(image), model.encode_image(image), atol=1e-6)
        assert torch.allclose(loaded.encode_text(text), model.encode_text(text), atol=1e-6)
    # the same weights as safetensors, with fp16 matmul weights as OpenAI stores them
    half = {k: (v.half() if v.ndim == 2 and "embedding" not in k else v) for k, v in model.state_dict().items()}
    save_file(half, str(tmp_path / "tiny.safetensors"))
    from_st = load_clip_file(tmp_path / "tiny.safetensors")
    assert from_st.dtype == torch.float32
    with torch.inference_mode():
        assert torch.allclose(from_st.encode_image(image), model.encode_image(image), atol=5e-3)


def test_archive_with_foreign_code_is_refused(tmp_path):
    evil = b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("evil/data.pkl", evil)
        z.writestr("evil/code/__torch__.py", "")
    with pytest.raises(CheckpointLayoutError, match="refused to load os.system"):
        read_torchscript_tensors(path)
    assert pickle.loads(pickle.dumps(1)) == 1  # the standard unpickler is untouched


def test_strict_load_names_bad_keys():
    sd = tiny_clip().state_dict()
    sd["visual.extra"] = torch.zeros(1)
    del sd["ln_final.bias"]
    with pytest.raises(CheckpointLayoutError, match="1 missing: ln_final.bias; 1 unexpected: visual.extra"):
        load_clip(sd)
    with pytest.raises(CheckpointLayoutError, match="not a ViT CLIP"):
        load_clip({"visual.layer1.0.conv1.weight": torch.zeros(1)})


def test_bad_image_shape_is_a_clear_error():
    with pytest.raises(InvalidArgumentError, match=r"\[N, 3, 32, 32\]"):
        tiny_clip().encode_image(torch.zeros(1, 3, 64, 64))
