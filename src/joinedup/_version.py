"""The package version, read by the build and recorded with every run."""

__version__ = "0.1.0"
