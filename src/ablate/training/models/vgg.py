"""VGG-A (Simonyan & Zisserman's configuration A) for 32x32 inputs, with optional BatchNorm and dropout."""

import itertools

from torch import nn

from ablate.training.components import activation, scaled

# "M" is a 2x2 max-pool; numbers are 3x3 conv widths
STAGES = {
    "vgg_a": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg_a_light": (16, "M", 32, "M"),
}
CLASSIFIER = {"vgg_a": (512, 512), "vgg_a_light": (128, 128)}  # hidden widths of the classifier
FEATURE_SIDE = {"vgg_a": 1, "vgg_a_light": 8}  # side of the last feature map (32 halved per "M")


class VGG(nn.Module):
    def __init__(
        self,
        layout: str,
        batch_norm: bool,
        act: str = "relu",
        dropout: float = 0.0,
        num_classes: int = 10,
        width: float = 1.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in STAGES[layout]:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            out = scaled(item, width)
            layers.append(nn.Conv2d(channels, out, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(activation(act))
            channels = out
        self.features = nn.Sequential(*layers)
        widths = (channels * FEATURE_SIDE[layout] ** 2, *(scaled(w, width) for w in CLASSIFIER[layout]))
        head: list[nn.Module] = [nn.Flatten()]
        # dropout before each hidden linear layer, none before the output layer (the original's VGG.py,
        # VGG_A_Dropout and VGG_A_BatchNorm_dropout: nn.Dropout(), Linear, ReLU, nn.Dropout(), Linear, ReLU, Linear)
        for fan_in, fan_out in itertools.pairwise(widths):
            head += [nn.Dropout(dropout), nn.Linear(fan_in, fan_out), activation(act)]
        # the probes (grad_change, beta) read the gradient of this last linear layer
        head.append(nn.Linear(widths[-1], num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x):
        return self.classifier(self.features(x))


VARIANTS = {  # name -> (layout, batch_norm)
    "vgg_a": ("vgg_a", False),
    "vgg_a_light": ("vgg_a_light", False),
    "vgg_a_dropout": ("vgg_a", False),
    "vgg_a_bn": ("vgg_a", True),
    "vgg_a_bn_dropout": ("vgg_a", True),
}


def vgg(name: str, act: str = "relu", dropout: float = 0.0, num_classes: int = 10, width: float = 1.0) -> VGG:
    layout, batch_norm = VARIANTS[name]
    return VGG(layout, batch_norm, act, dropout, num_classes, width)
