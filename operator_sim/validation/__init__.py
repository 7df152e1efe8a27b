"""Validation of envelope archives: schemas by nature × matière, business rules, reports."""
