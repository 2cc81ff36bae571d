"""The ``pellucid`` command: one module per subcommand, wired in :mod:`pellucid.cli.main`."""
