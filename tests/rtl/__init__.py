"""Unit tests of the RTL blocks on Amaranth's simulator, one file per ``rtl/`` module.

This file makes the folder a package so that its test modules do not clash by name with
``sim/test_*.py`` (cocotb) and ``tests/golden/test_*.py`` under pytest's default import mode.
"""
