"""chip.memmap and chip.cycles: the pure-Python memory map and cycle models are the circuit's."""

import pytest

from plasticore.chip import memmap
from plasticore.chip.cycles import CORE_KINDS, core_model
from plasticore.golden.config import Config
from plasticore.rtl import core as rtl_core
from plasticore.rtl.kinds import make_core

CONFIGS = [Config(layers=(6, 5, 4, 3)), Config(layers=(8, 4), rule="readout"),
           Config(layers=(6, 4, 3), reset_path=False)]


@pytest.mark.parametrize("kind", CORE_KINDS)
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c.layers)))
def test_the_model_is_the_core_without_the_circuit(config, kind):
    model, core = core_model(config, kind), make_core(config, kind)
    core._MustUse__silence = True
    for name in ("n_layers", "neuron_base", "trace_base", "weight_base", "feedback_base",
                 "n_weights", "n_neurons", "n_traces", "n_hidden", "n_feedback", "data_width",
                 "addr_width",
                 "READ_LATENCY", "READ_DELAY", "READ_HOLDS", "SMALL_READ_LATENCY",
                 "LIST_READ_LATENCY", "clear_words", "depths"):
        assert getattr(model, name) == getattr(core, name), name
    for mem, layout in ((memmap.Mem.STATE, core.state_layout),
                        (memmap.Mem.TRACE, core.trace_layout),
                        (memmap.Mem.GRAD, core.grad_layout)):
        assert [(f.name, f.offset, f.width, f.signed) for f in model.fields[mem]] == \
            [(name, field.offset, field.width, field.shape.signed) for name, field in layout]
        assert model.word_size(mem) == layout.size
    listed, spikers = [2] * model.n_layers, [[0, 1]] + [[]] * (model.n_layers - 1)
    assert model.step_timing(listed, spikers) == core.step_timing(listed, spikers)
    assert model.learn_cycles() == core.learn_cycles()
    assert model.sample_cycles(True) == core.sample_cycles(True)


def test_words_round_trip():
    mm = memmap.MemoryMap(Config(layers=(6, 5, 4, 3)))
    word = {"a": -5, "c": 7, "grade_sum": -1, "grade_total": 3, "count": 2, "last_step": 9}
    assert mm.decode(memmap.Mem.STATE, mm.encode(memmap.Mem.STATE, word)) == word
    assert mm.decode(memmap.Mem.WEIGHT, mm.encode(memmap.Mem.WEIGHT, -3)) == -3
    assert mm.field(memmap.Mem.STATE, "count").width == mm.config.count_bits


def test_the_circuit_enums_have_the_plain_members():
    for plain, circuit in ((memmap.Mem, rtl_core.Mem), (memmap.Cmd, rtl_core.Cmd)):
        assert [(m.name, m.value) for m in plain] == [(m.name, m.value) for m in circuit]
        for m in plain:
            assert circuit[m.name] == m and hash(circuit[m.name]) == hash(m)
