"""FaceShifter AEI-Net and GHOST's ArcFace: strict loads of the official layouts and parity with the official
code (ai-forever/ghost @ ea23cce, ArcFace from dimitribarbot/ghostv2 @ bc53ed0) on seeded random weights.

The reference tensors in tests/data/ghost/ were recorded once from the official code in float64 (README.md there);
the weights are re-created here from the same seeds (tests/ghost_fixtures.py). Each limit is 10× the official
float32-vs-float64 error recorded beside the reference (``<name>.err32``).
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from faceedit.errors import CheckpointLayoutError
from faceedit.models.aei_net import (
    TENSORS_PER_VARIANT,
    AEINet,
    HEARNet,
    fuse_for_inference,
    load_aei_net,
    load_aei_net_file,
)
from faceedit.models.arcface import cosine_similarity, identity_embedding, load_arcface
from tests import ghost_fixtures as GF
from tests.layouts import placeholder_state_dict, random_state_dict, save_in_format


def _close(actual: torch.Tensor, expected: torch.Tensor, atol: float, what: str) -> None:
    err = (actual.double() - expected.double()).abs().max().item()
    assert err <= atol, f"{what}: max abs difference {err:.3g} > {atol:.3g}"


def _limit(ref: dict[str, torch.Tensor], name: str) -> float:
    return 10 * ref[f"{name}.err32"].item()


@pytest.mark.parametrize("n", [1, 2, 3])
def test_published_generator_layouts_load_strictly(tmp_path, n):
    layout = GF.DATA / f"{GF.G_LAYOUTS[n]}.json"
    path = save_in_format(tmp_path / f"{GF.G_LAYOUTS[n]}.pth", "plain", placeholder_state_dict(layout))
    net = load_aei_net_file(str(path))
    assert net.num_blocks == n and len(net.state_dict()) == TENSORS_PER_VARIANT[n]
    assert not any(p.requires_grad for p in net.parameters()) and not net.training


def test_wrong_variant_or_foreign_file_is_refused():
    two_block = placeholder_state_dict(GF.DATA / "G_unet_2blocks.json")
    with pytest.raises(CheckpointLayoutError, match="missing|unexpected"):
        load_aei_net(two_block, num_blocks=3)
    with pytest.raises(CheckpointLayoutError, match="ArcFace"):
        load_arcface(two_block)


def test_arcface_layout_loads_strictly_and_matches_official_embedding(one_thread):
    net = load_arcface(GF.arcface_state())
    ref = load_file(GF.DATA / "ref_arcface.safetensors")
    crops = GF.reference_inputs()["crops"]
    with torch.inference_mode():
        emb = identity_embedding(net, crops)
    assert emb.shape == (2, 512)
    _close(emb, ref["embedding.f64"], _limit(ref, "embedding"), "ArcFace z_id")
    # raw, not normalised: GHOST feeds the BatchNorm1d output to the generator as it is
    assert not torch.allclose(emb.norm(dim=1), torch.ones(2), atol=0.1)
    assert torch.allclose(cosine_similarity(emb, emb), torch.ones(2), atol=1e-5)


def _check_generator(net: AEINet, ref: dict[str, torch.Tensor]) -> None:
    inp = GF.reference_inputs()
    with torch.inference_mode():
        y, z_attr = net(inp["x_t"], inp["z_id"])
    assert y.shape == (1, 3, 256, 256) and len(z_attr) == 8
    _close(y[:, :, ::2, ::2], ref["y"], _limit(ref, "y"), "Y")
    _close(GF.summary(y), ref["y.summary"], _limit(ref, "y"), "Y summary")
    for i, z in enumerate(z_attr):
        name = f"z_att{i + 1}"
        _close(GF.subsample(z), ref[name], _limit(ref, name), name)
        _close(GF.summary(z), ref[f"{name}.summary"], _limit(ref, name), f"{name} summary")


@pytest.mark.parametrize("n", [2, 3])
def test_generator_matches_official_output_and_attribute_maps(one_thread, n):
    net = load_aei_net(GF.ghost_generator_state(n))
    _check_generator(net, load_file(GF.DATA / f"ref_G_unet_{n}.safetensors"))


def test_safetensors_repack_loads_through_the_same_loader_and_matches(one_thread, tmp_path):
    """ghostv2-style re-pack: the same key names in a safetensors file (1-block variant)."""
    path = tmp_path / "GhostV1_G_unet_1block.safetensors"
    save_file(GF.ghost_generator_state(1), str(path))
    net = load_aei_net_file(str(path))
    path.unlink()
    _check_generator(net, load_file(GF.DATA / "ref_G_unet_1.safetensors"))
    # the fused inference copy (BN folded, γ/β merged, fewer passes) keeps the outputs within the same limit
    _check_generator(fuse_for_inference(net), load_file(GF.DATA / "ref_G_unet_1.safetensors"))


def test_identity_changes_the_swap_and_attributes_do_not_depend_on_it(one_thread):
    torch.manual_seed(0)
    net = AEINet(num_blocks=1).eval()
    x_t = torch.rand(1, 3, 256, 256) * 2 - 1
    with torch.inference_mode():
        y1, a1 = net(x_t, torch.randn(1, 512))
        y2, a2 = net(x_t, torch.randn(1, 512))
    assert (y1 - y2).abs().mean() > 1e-3
    assert all(torch.equal(p, q) for p, q in zip(a1, a2, strict=True))


def test_hear_net_refines_at_full_size_and_trains():
    torch.manual_seed(0)
    hear = HEARNet()
    y_hat, err = torch.rand(2, 3, 256, 256) * 2 - 1, torch.rand(2, 3, 256, 256) * 0.2
    out = hear(y_hat, err)
    assert out.shape == (2, 3, 256, 256) and out.abs().max() <= 1
    out.mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in hear.parameters())


def test_random_layout_weights_differ_per_seed():
    """The recipe really draws: two seeds give different generators (guards the reference recipe)."""
    a = random_state_dict(GF.DATA / "arcface_backbone.json", seed=1)["fc.weight"]
    b = random_state_dict(GF.DATA / "arcface_backbone.json", seed=2)["fc.weight"]
    assert not torch.equal(a, b)


def test_manifest_rows_build_the_networks_from_their_files():
    """Each GHOST row's loader + kwargs builds the right network from a file in the published layout."""
    from faceedit import weights as W

    specs = W.registry()
    for n, name in (
        (1, "ghost.g_unet_1block"),
        (2, "ghost.g_unet_2blocks"),
        (3, "ghost.g_unet_3blocks"),
        (2, "ghost.g_unet_2blocks_safetensors"),
    ):
        spec = specs[name]
        assert spec.sha256 is None and "sha256" in spec.unverified  # none published: never invented
        assert "Apache-2.0" in spec.licence and spec.url and spec.url.endswith(spec.filename)
        net = W.resolve_loader(spec)(
            placeholder_state_dict(GF.DATA / f"{GF.G_LAYOUTS[n]}.json"), **spec.kwargs
        )
        assert isinstance(net, AEINet) and net.num_blocks == n
    arc = specs["ghost.arcface_backbone"]
    assert "non-commercial" in arc.licence and "licence" in arc.unverified
    net = W.resolve_loader(arc)(placeholder_state_dict(GF.DATA / "arcface_backbone.json"))
    assert sum(p.numel() for p in net.parameters()) > 65_000_000
