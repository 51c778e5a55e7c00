"""Rendering: JSON outputs now; the PDF and the workbook read the same precomputed model."""
