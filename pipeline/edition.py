"""Which edition of the course this tree is.

The full edition (this file as committed) holds the reference solutions, the hidden checks and the
instructor's tools. `lab release` writes the student edition with ``STUDENT_EDITION = True``: the
functions the labs ask for are left out of the reference modules and hand over to the student's own
lab files, so every stage, the demo and the dashboard run the student's code.
"""

STUDENT_EDITION = False
