"""The game: state, dynamics of TPOS-CAI and TPOS-UAI, estimates (29) and topologies."""
