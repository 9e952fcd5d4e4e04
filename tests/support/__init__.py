"""Helpers shared by the tests in every folder; nothing here is collected as a test."""
