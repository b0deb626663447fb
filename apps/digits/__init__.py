"""Handwritten digits: MNIST classification with a plain or residual CNN."""
