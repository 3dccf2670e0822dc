"""What only the notebooks and their instructors use: the exercise checks and their
reference answers, notebook 04's RAM detective work, reading recorded studies, the
student-copy builder, the nbgrader metadata and grades report, the notebooks' optional
sections, and their Colab badges and setup cells.

May import: everything in ``course_utils`` except the two commands (``train``,
``evaluate``); nothing outside ``lessons`` imports it.
"""
