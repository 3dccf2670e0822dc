"""What only the notebooks and their instructors use: the exercise checks and their
reference answers, notebook 04's RAM detective work, reading recorded studies, the
student-copy builder, the nbgrader metadata and grades report, the notebooks' optional
sections, their Colab badges and setup cells, and the one writer that rewrites the
source notebooks in place.

May import: everything in ``course_utils`` except the two commands (``train``,
``evaluate``); nothing outside ``lessons`` imports it.
"""
