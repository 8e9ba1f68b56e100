"""The `kcolors` command line."""
