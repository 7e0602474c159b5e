"""MILP backends behind one protocol: CP-SAT, HiGHS, any Pyomo solver."""
