"""boards.area: cells attributed to the register they are named after (the synthesis itself is
the build's; this checks the naming rules on netlist fragments shaped like yosys's)."""

from plasticore.boards.area import attribute, owner


def test_owner_strips_bits_cones_and_memory_ports():
    assert owner("top.link.word_SB_DFFESR_Q_52_D_SB_LUT4_O") == "top.link.word"
    assert owner("top.link.word_SB_DFFESR_Q_52_D_SB_LUT4_O_I2_SB_LUT4_O") == "top.link.word"
    assert owner("top.link.core.e2$211_SB_DFFSR_Q_18_D_SB_MAC16_O") == "top.link.core.e2"
    assert owner("top.link.core.state.0.1_WDATA_15_SB_DFF_Q_D_SB_LUT4_O") == \
        "top.link.core.state (memory port)"
    assert owner("top.link.n_frames_SB_CARRY_CO_3") == "top.link.n_frames"


def test_attribute_counts_by_kind_and_ranks_by_luts():
    netlist = {"modules": {"top": {"cells": {
        "top.a_SB_DFF_Q_D_SB_LUT4_O": {"type": "SB_LUT4"},
        "top.a_SB_DFF_Q_D_SB_LUT4_O_I1_SB_LUT4_O": {"type": "SB_LUT4"},
        "top.a_SB_DFF_Q": {"type": "SB_DFF"},
        "top.b_SB_DFFE_Q_1_D_SB_LUT4_O": {"type": "SB_LUT4"},
        "top.b_SB_DFFE_Q_1": {"type": "SB_DFFE"},
        "top.b_SB_DFFE_Q_2": {"type": "SB_DFFE"},
        "top.b_SB_CARRY_CO": {"type": "SB_CARRY"},
        "top.m": {"type": "SB_MAC16"},
        "$scopeinfo": {"type": "$scope"},
    }}}}
    report = attribute(netlist)
    assert report["totals"] == {"SB_LUT4": 3, "SB_DFF": 1, "SB_DFFE": 2, "SB_CARRY": 1, "SB_MAC16": 1}
    assert report["owners"][:2] == [("top.a", {"LUT": 2, "FF": 1}),
                                    ("top.b", {"LUT": 1, "FF": 2, "CARRY": 1})]
