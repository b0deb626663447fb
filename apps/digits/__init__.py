"""Handwritten digits: MNIST classification with a plain or residual CNN."""

from apps.digits.app import DigitsApp

__all__ = ["DigitsApp"]
