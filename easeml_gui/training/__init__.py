"""Image-classification training: datasets, the model catalogue, the worker that trains one arm.

The only package that imports torch/torchvision, and only in the modules that train (models, augment, trainer,
worker). errors, limits, images, archives, datasets, decoded and catalogue stay torch-free, so the CLI and the
GUI can validate datasets and match schemas on a machine without torch.
"""
