"""The system model and its truths.

Instance, DNN tables, delay (5)-(7), channel (8)-(11), cost (19)-(25), problem (28), the checker, Solution.
"""
