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

# model name -> (parameters, bytes autograd saves per image, bytes of its largest saved tensor per image),
# fp32 training on 32x32 images at width 1: what ablate.models.measure_footprint counts (a test checks
# that they agree). ablate.gpus estimates a train job's GPU memory from them without importing torch.
FOOTPRINTS: dict[str, tuple[int, int, int]] = {
    "basic_cnn": (576_778, 378_112, 200_704),
    "resnet18": (11_173_962, 4_738_560, 262_144),
    "resnet34": (21_282_122, 8_045_056, 262_144),
    "resnet50": (23_520_842, 25_726_464, 1_048_576),
    "resnet101": (42_512_970, 39_304_704, 1_048_576),
    "resnet152": (58_156_618, 56_004_096, 1_048_576),
    "vgg_a": (9_750_922, 997_376, 262_144),
    "vgg_a_light": (285_162, 185_344, 65_536),
    "vgg_a_dropout": (9_750_922, 1_003_520, 262_144),
    "vgg_a_bn": (9_756_426, 1_625_600, 262_144),
    "vgg_a_bn_dropout": (9_756_426, 1_631_744, 262_144),
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
