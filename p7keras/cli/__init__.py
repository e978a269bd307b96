"""Command line interface: argparse only, no logic (the library does the work)."""
