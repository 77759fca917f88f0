"""Autograd: Function, the backward engine, grad modes and gradcheck."""
