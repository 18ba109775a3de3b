"""Making batches: which samples an iteration gets, their augmentation, and decoding on the device."""
