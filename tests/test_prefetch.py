"""The W+ inversion started in the background when a face is opened (``Session.from_photo(prefetch=True)``).

A slow encoder that blocks on an event the test releases shows that opening does not wait for it, that the
first slider move does (and is then the same as without the background start), that the face is inverted
once even when a slider move arrives meanwhile, and that its error reaches the first slider move.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from helpers import CountingGenerator, gan_composer
from test_gan_engine import SIZE, STYLE_DIM, SmallEncoder

from faceedit.directions import Direction, DirectionLibrary
from faceedit.errors import WeightsMissingError
from faceedit.session import Session


class GatedEncoder(SmallEncoder):
    """:class:`SmallEncoder` that waits for ``gate`` before encoding, or raises ``error`` when set."""

    def __init__(self, in_channels: int, n_latent: int) -> None:
        super().__init__(in_channels, n_latent)
        self.gate = threading.Event()
        self.started = threading.Event()
        self.error: Exception | None = None

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        self.started.set()
        assert self.gate.wait(30), "the test never released the encoder"
        if self.error is not None:
            self.calls += 1
            raise self.error
        return super().encode(x)


@pytest.fixture()
def nets() -> dict:
    torch.manual_seed(0)
    gen = CountingGenerator(SIZE, style_dim=STYLE_DIM, n_mlp=2, channel_multiplier=1).eval().requires_grad_(False)
    enc = GatedEncoder(3, gen.n_latent).eval().requires_grad_(False)
    lib = DirectionLibrary([Direction("smile", np.random.default_rng(0).standard_normal((1, STYLE_DIM)), scale=4.0)])
    return {"generator": gen, "encoder": enc, "directions": lib}


def _open_in_thread(composer, photo) -> tuple[threading.Thread, list]:
    opened: list = []
    thread = threading.Thread(target=lambda: opened.append(Session.from_photo(photo, engine="gan", composer=composer,
                                                                               prefetch=True)))
    thread.start()
    return thread, opened


def test_opening_returns_before_the_inversion_and_the_first_move_waits_for_it(nets, astronaut) -> None:
    composer = gan_composer(**nets)
    thread, opened = _open_in_thread(composer, astronaut)
    thread.join(60)
    assert opened and not thread.is_alive(), "opening waited for the inversion"
    s = opened[0]
    assert nets["encoder"].started.wait(10) and nets["encoder"].calls == 0  # still inverting
    moved: list = []
    mover = threading.Thread(target=lambda: moved.append(s.set_attributes({"smile": 1.5})))
    mover.start()
    mover.join(0.5)
    assert mover.is_alive() and not moved, "the slider move did not wait for the inversion"
    nets["encoder"].gate.set()
    mover.join(60)
    assert moved and nets["encoder"].calls == 1, "the face was inverted once, not again by the slider move"
    # The same result as a session opened without the background start.
    nets["encoder"].calls = 0
    plain = Session.from_photo(astronaut, engine="gan", composer=gan_composer(**nets))
    assert nets["encoder"].calls == 1
    expected = plain.set_attributes({"smile": 1.5})
    assert np.array_equal(moved[0].image, expected.image) and not np.array_equal(moved[0].image, astronaut)
    assert moved[0].engine == "gan" and s.can_undo


def test_concurrent_moves_share_one_inversion(nets, astronaut) -> None:
    composer = gan_composer(**nets)
    s = Session.from_photo(astronaut, engine="gan", composer=composer, prefetch=True)
    results: list = []
    movers = [threading.Thread(target=lambda v=v: results.append(s.preview_attributes({"smile": v})))
              for v in (1.0, -1.0)]
    for m in movers:
        m.start()
    nets["encoder"].gate.set()
    for m in movers:
        m.join(60)
    assert len(results) == 2 and nets["encoder"].calls == 1
    assert not np.array_equal(results[0].image, results[1].image)


def test_an_inversion_error_surfaces_at_the_first_slider_move(nets, astronaut) -> None:
    nets["encoder"].error = WeightsMissingError("e4e weights are unreadable")
    composer = gan_composer(**nets)
    s = Session.from_photo(astronaut, engine="gan", composer=composer, prefetch=True)
    assert s.current.image.shape == astronaut.shape  # the photo is open; nothing failed yet
    nets["encoder"].gate.set()
    with pytest.raises(WeightsMissingError, match="unreadable"):
        s.set_attributes({"smile": 1.0})
    nets["encoder"].error = None  # the next move inverts again and works
    assert s.set_attributes({"smile": 1.0}).engine == "gan" and s.can_undo


def test_the_lite_path_prepares_at_once(astronaut) -> None:
    from faceedit.editors.composer import Composer

    s = Session.from_photo(astronaut, engine="lite", composer=Composer.from_registry(device="cpu"), prefetch=True)
    assert s._pending is None and s.set_attributes({"smile": 1.0}).engine == "lite"
