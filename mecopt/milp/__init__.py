"""The MILP models: best response, GTPOS, the potential, and their solver backends."""
