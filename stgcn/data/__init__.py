"""Datasets, samplers, transforms and the synthetic SSv2-format generator."""
