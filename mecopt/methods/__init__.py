"""Methods by name: TPOS (CAI/UAI), tpos-best, GTPOS, baselines, and the registry."""
