"""The learning algorithms: tabular Q-learning, DQN (with QR-DQN) and Selective
Memory, each a core of small pieces plus the loop that calls them, and the services
every loop shares (model selection, deadline, progress).

May import: ``common`` and other ``agents`` modules; never ``games`` or ``lessons``.
"""
