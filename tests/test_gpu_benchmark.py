"""benchmarks/gpu.py cannot rot: it runs end to end on the CPU at tiny sizes and writes its table."""

from __future__ import annotations

from pathlib import Path

from benchmarks import gpu


def test_dry_run_on_cpu_writes_the_table(tmp_path: Path, one_thread: None) -> None:
    out = tmp_path / "gpu.md"
    assert gpu.main(["--device", "cpu", "--tiny", "--repeats", "1", "--warmup", "0", "--dtypes", "float32",
                     "bfloat16", "--only", "StyleGAN2", "BiSeNet", "mask-guided", "L2M", "slider",
                     "--out", str(out)]) == 0
    text = out.read_text()
    assert "CPU (" in text and "TINY sizes" in text and "synthetic seeded random weights" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| network")]
    names = ["StyleGAN2 generator", "BiSeNet parser", "mask-guided G", "L2M-GAN generator", "slider move"]
    assert [next(n for n in names if n in row) for row in rows] == names
    for row in rows:  # two timed cells per row, each a positive number of milliseconds
        cells = [c.strip() for c in row.strip("|").split("|")][2:]
        assert len(cells) == 2 and all(float(c.split()[0]) > 0 for c in cells), row


def test_every_network_builds_and_runs_once(one_thread: None) -> None:
    import torch

    dev = torch.device("cpu")
    names = []
    for case in gpu.cases(tiny=True):
        if "Encoder" in case.name:  # IR-SE-50 at 256² (their only size): ~2 s each; built here, not run
            assert callable(case.build(dev))
            continue
        with torch.inference_mode():
            out = case.build(dev)()
        assert torch.isfinite(out.float()).all(), case.name
        names.append(case.name)
    assert len(names) == 5
