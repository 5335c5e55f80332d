"""Float baselines (torch, CPU): BPTT, e-prop, DECOLLE, DRTP, ETLP-style, DFA and SFDFA on the
clocked LIF network of the golden model, plus the non-spiking FDFA / BP / DFA anchor on an MLP.
See docs/baselines.md."""
