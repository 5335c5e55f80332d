"""The RTL's shape (issue 25): no method in rtl/ over 150 lines, ``Link.elaborate`` a table of
contents of named parts, and those parts' registers named as they were as ``elaborate``'s locals
(the RTLIL that tests/rtl/link_rtlil.py hashes depends on those names)."""

import ast
import re
from pathlib import Path

from .link_rtlil import designs, rtlil_text

RTL = Path(__file__).resolve().parents[2] / "rtl"


def _methods():
    for path in sorted(RTL.glob("*.py")):
        tree = ast.parse(path.read_text())
        for cls in (node for node in tree.body if isinstance(node, ast.ClassDef)):
            for node in cls.body:
                if isinstance(node, ast.FunctionDef):
                    yield f"{path.name}:{cls.name}.{node.name}", node.end_lineno - node.lineno + 1


def test_no_method_over_150_lines():
    lengths = dict(_methods())
    assert lengths["link.py:Link.elaborate"] <= 40, lengths["link.py:Link.elaborate"]
    assert {name: n for name, n in lengths.items() if n > 150} == {}


def test_link_registers_keep_their_names():
    text = rtlil_text(designs()["compact-small"])
    link = text[text.index("module \\top.link\n"):]
    link = link[:link.index("\nend\n")]
    wires = set(re.findall(r"^ *wire (?:width \d+ )?(?:signed )?\\(\S+)$", link, re.MULTILINE))
    # one register of each part, named by the tracer after its attribute or by name=
    for wire in ("length", "cobs_error", "n_overrun", "pass_busy", "learned_s", "snap_left",
                 "after_body", "code_b", "err_detail", "step8", "snap_ok", "snap_byte",
                 "body_ok_c", "mem_valid", "out_of_range", "is_spike", "bad_state", "link_state"):
        assert wire in wires, wire
