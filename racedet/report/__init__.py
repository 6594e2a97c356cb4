"""Formatters of findings: Go-style text, JSON, SARIF 2.1.0 and GitHub annotations."""
