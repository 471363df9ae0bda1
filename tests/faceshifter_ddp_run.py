"""Run by tests/test_faceshifter_train.py under torchrun: two tiny FaceShifter training steps on two CPU processes
(with the tiny identity net of the tests, which no command-line option can name)."""

from __future__ import annotations

import sys

from faceedit.train.faceshifter import Options, train
from tests.test_faceshifter_train import TINY, TinyIdentity

if __name__ == "__main__":
    train(
        Options(data=sys.argv[1], out=sys.argv[2], total_iters=2, save_every=2, check_sync=True, **TINY),
        id_net=TinyIdentity(),
    )
