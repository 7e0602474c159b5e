"""The subcommands of ``mecopt``, one module per command family."""
