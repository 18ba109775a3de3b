"""Inputs for comparing this package with reference implementations: deterministic weights."""
