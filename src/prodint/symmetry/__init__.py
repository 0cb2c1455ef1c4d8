"""Continuous symmetries."""
