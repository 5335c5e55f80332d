"""What the chip and the host agree on, below both rtl/ and host/: the link protocol, the memory
map, the cycle models, the board description."""
