"""Reading image files defensively, and what happens to one that cannot be used."""
