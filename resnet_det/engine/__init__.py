"""Training loops, checkpointing, schedules and the distributed plumbing they share."""
