"""Every name a config may use, without importing torch.

The workflow reads this at parse time (a dry run must stay fast), and the torch-side registries
(models, components, probes) are checked against it by the tests, so a name cannot exist in one
place and not the other.
"""

from __future__ import annotations

# model name -> dropout probability used when the config leaves `dropout: null`
MODELS: dict[str, float] = {
    "basic_cnn": 0.0,
    "resnet18": 0.0,
    "resnet34": 0.0,
    "resnet50": 0.0,
    "resnet101": 0.0,
    "resnet152": 0.0,
    "vgg_a": 0.0,
    "vgg_a_light": 0.0,
    "vgg_a_dropout": 0.5,
    "vgg_a_bn": 0.0,
    "vgg_a_bn_dropout": 0.5,
}

# the models section 1.9 (architecture table, filters, feature maps) knows how to take apart
RESNETS = tuple(name for name in MODELS if name.startswith("resnet"))

LOSSES = ("cross_entropy", "mse", "smooth_l1", "bce_with_logits")

ACTIVATIONS = ("relu", "sigmoid", "leaky_relu", "tanh", "softplus", "elu", "gelu", "silu")

# optimizer name -> the config keys it takes (everything else is dropped from the resolved config,
# so that e.g. a momentum in the defaults does not become part of an Adam run's identity)
OPTIMIZERS: dict[str, tuple[str, ...]] = {
    "sgd": ("lr", "momentum", "weight_decay", "nesterov"),
    "adam": ("lr", "betas", "eps", "weight_decay"),
    "adagrad": ("lr", "eps", "weight_decay"),
    "adadelta": ("lr", "rho", "eps", "weight_decay"),
    "rmsprop": ("lr", "alpha", "eps", "momentum", "weight_decay"),
}

SCHEDULERS: dict[str, tuple[str, ...]] = {
    "none": (),
    "plateau": ("factor", "patience", "cooldown", "min_lr"),
    "cosine": ("min_lr",),
    "step": ("step_size", "gamma"),
}

PROBES = ("step_loss", "grad_change", "beta", "line_search")

DATASETS = ("cifar10", "image_folder", "synthetic")

PRECISIONS = ("auto", "fp32", "tf32", "bf16")

INITS = ("default", "glorot")

DEVICES = ("auto", "cpu", "cuda", "mps")
