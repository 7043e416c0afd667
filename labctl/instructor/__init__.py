"""The instructor's tools: the reference solutions as student files, the mistakes the checks must catch,
`lab verify`, `lab grade` and `lab release`. None of this is in the student edition."""
