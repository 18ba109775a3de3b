"""Training: the hook-based loop, its hooks, the classification and detection trainers, checkpoints, schedules."""
