"""The course's own games and what an agent needs to play the Atari one: Catch,
Snake (and the snake's egocentric view), Space Invaders' RAM preprocessing and its
reward and life bookkeeping.

May import: ``common``; never ``agents`` or ``lessons``.
"""
