"""Exam campaigns, batch exam PDFs and cohort statistics."""
