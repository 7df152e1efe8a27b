"""operator-sim: a self-hostable simulator of the French @ctes chain."""

__version__ = "0.1.0"
