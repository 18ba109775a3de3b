"""Datasets (CIFAR-10, built-in synthetic shapes) and the loaders that feed the trainers."""
