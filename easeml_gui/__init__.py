"""easeml-gui: share a lab's devices among many tenants doing automatic model selection."""

__version__ = "0.1.0"
