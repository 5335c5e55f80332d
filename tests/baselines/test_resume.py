"""Per-epoch checkpoints of the float baselines' trainer: a run stopped after an epoch and started
again ends exactly as the uninterrupted run. Tiny nets, fast."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from plasticore.baselines.train import train_rule
from plasticore.golden.config import Config

torch.set_num_threads(1)


class _Stop(Exception):
    pass


@pytest.mark.parametrize("rule,integrate", [("bptt", True), ("sfdfa", False)])
def test_train_rule_resumes_from_checkpoint(tmp_path, rule, integrate, random_pixels):
    """A run stopped after epoch 1 and started again from its checkpoint ends exactly as the
    uninterrupted run: same history, same final weights and Adam state (sfdfa: also its learnt
    feedback and perturbation generator)."""
    from types import SimpleNamespace

    cfg = Config(layers=(16, 12, 4), n_steps=20, input_window=10, init_hidden=2.0,
                 init_output_offset=0.5)
    if integrate:
        cfg = cfg.replace(output_layer="integrate", output_loss="softmax", lr_hidden_shift=6,
                          lr_output_shift=9)
    px = random_pixels(40, 16, 7)
    data = SimpleNamespace(x_train=px[:32], y_train=np.arange(32) % 4, x_test=px[32:],
                           y_test=np.arange(8) % 4)
    kw = dict(seed=1, epochs=3, batch=8, align=False, log=lambda s: None)
    full = train_rule(rule, cfg, data, checkpoint=tmp_path / "full.pt", **kw)

    def stop(result):
        assert not result["complete"] and len(result["history"]) == 1
        raise _Stop

    with pytest.raises(_Stop):
        train_rule(rule, cfg, data, checkpoint=tmp_path / "cut.pt", on_epoch=stop, **kw)
    seen = []
    resumed = train_rule(rule, cfg, data, checkpoint=tmp_path / "cut.pt", on_epoch=seen.append, **kw)
    assert [len(r["history"]) for r in seen] == [2, 3] and resumed["complete"]
    assert resumed["history"] == full["history"]
    a, b = torch.load(tmp_path / "full.pt"), torch.load(tmp_path / "cut.pt")
    for x, y in zip(a["weights"] + a["feedback"], b["weights"] + b["feedback"]):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    assert a["optimizer"]["state"][0]["step"] == b["optimizer"]["state"][0]["step"]
