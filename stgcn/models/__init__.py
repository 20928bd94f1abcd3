"""Whole networks: I3D/C2D ResNets, region features, STRG."""
