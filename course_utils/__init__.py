"""Shared, tested helpers for the hands-on deep reinforcement learning course.

Importing this package does nothing but define names: no seeding, no printing, no
plotting style. Import what you need explicitly, e.g.
``from course_utils.common.buffers import ReplayBuffer``.
"""

__version__ = "0.1.0"
