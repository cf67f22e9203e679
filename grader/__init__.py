"""dlgrade: a grader for deep-learning notebooks with a trusted judge and an untrusted worker."""

__version__ = "0.1.0"
