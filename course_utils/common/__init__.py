"""Plumbing every notebook and agent shares: fast and grading modes, seeding,
environments (and the allow-list of those a checkpoint may name), replay storage,
networks, policies, evaluation, statistics over seeds, plots, videos, argument
validators, files written whole and checkpoints.

May import: the standard library, NumPy, PyTorch, Gymnasium, matplotlib and other
``common`` modules; never ``agents``, ``games`` or ``lessons``.
"""
