"""The engine switch-over without a restart (faceedit.live_composer): a composer holder swapped when weights arrive,
followed by sessions that were opened before, under one lock, with models loaded once."""

from __future__ import annotations

import threading

import pytest
from helpers import gan_composer, run_in_threads
from test_gan_engine import networks  # noqa: F401 - the small GAN networks (module fixture)

from faceedit.editors.composer import Composer
from faceedit.live_composer import LiveComposer, live_composer
from faceedit.session import Session
from faceedit.weights.manager import DownloadManager


@pytest.fixture()
def lite() -> Composer:
    return Composer([e for e in gan_composer().editors if e.engine == "lite"])


def test_open_sessions_move_to_the_gan_engine_at_their_next_operation(lite, networks, astronaut) -> None:  # noqa: F811
    gan = gan_composer(**networks)
    holder = LiveComposer(lite, factory=lambda: gan)
    before = Session.from_photo(astronaut, composer=holder)
    assert before.engine_name == "lite" and "smile" in before.attribute_names()
    lite_result = before.set_attributes({"smile": 1.0})
    assert lite_result.engine == "lite"
    assert holder.rebuild(("e4e.ffhq_encode",)) is gan and holder.current is gan and holder.generation == 1
    assert holder.took_in(["e4e.ffhq_encode"]) and not holder.took_in(["something.else"])
    moved = before.set_attributes({"smile": 1.0})  # the same session, its next operation
    assert moved.engine == "gan" and before.engine_name.startswith("gan")
    assert before.attribute_names() == ["smile", "age"]
    forced = Session.from_photo(astronaut, engine="lite", composer=holder)  # a forced engine stays forced
    holder.rebuild()
    assert forced.set_attributes({"smile": 1.0}).engine == "lite"


def test_a_failing_rebuild_keeps_the_old_composer_and_says_why(lite) -> None:
    def broken() -> Composer:
        raise RuntimeError("e4e does not load")

    holder = LiveComposer(lite, factory=broken)
    assert holder.rebuild(("e4e.ffhq_encode",)) is lite and holder.generation == 0
    assert "could not be loaded" in holder.error and "e4e does not load" in holder.error
    assert holder.took_in(["e4e.ffhq_encode"])  # the panel stops waiting and shows the error


def test_rebuilds_and_operations_in_threads_do_not_mix(lite, networks, astronaut) -> None:  # noqa: F811
    gan = gan_composer(**networks)
    built = []
    gate = threading.Lock()

    def factory() -> Composer:
        with gate:
            built.append(1)
        return gan if len(built) % 2 else lite

    holder = LiveComposer(lite, factory=factory)
    sessions = [Session.from_photo(astronaut, composer=holder) for _ in range(2)]

    def work(i: int) -> None:
        if i < 2:
            for _ in range(3):
                holder.rebuild()
        else:
            for k in range(3):
                r = sessions[i - 2].set_attributes({"smile": 0.5 * (k + 1)})
                assert r.engine in ("gan", "lite") and r.image.shape == astronaut.shape

    run_in_threads(work, 4)
    assert holder.generation == 6 and len(built) == 6


def test_the_page_holder_follows_the_download_manager(lite, networks) -> None:  # noqa: F811
    gan = gan_composer(**networks)
    mgr = DownloadManager()
    holder = LiveComposer(lite, factory=lambda: gan).follow(mgr)
    mgr._fire(("e4e.ffhq_encode",), None)  # what a finished job or an upload does
    assert holder.current is gan and holder.took_in(["e4e.ffhq_encode"], timeout=1)
    fixed = live_composer(lite, manager=mgr)  # a composer given explicitly (tests) is never rebuilt
    assert fixed.current is lite and not fixed.rebuilds and fixed.took_in(["anything"])
    mgr._fire(("x",), None)
    assert fixed.current is lite and holder.generation == 2
