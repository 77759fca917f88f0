"""Layers, losses and containers with PyTorch's names, defaults and state_dict keys."""
from .module import Module, Parameter, Sequential, ModuleList, ModuleDict
