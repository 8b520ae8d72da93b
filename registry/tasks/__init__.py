"""Assistance tasks down the chain (Art. 28(3)(e) and (g))."""
