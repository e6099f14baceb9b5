"""ResNet for 32x32 inputs: a 3x3 stem without max-pool, then four stages of basic or bottleneck blocks."""

from torch import nn

from ablate.training.components import activation, scaled


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int, act: str) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(planes),
            activation(act),
            nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(planes),
        )
        self.shortcut = _shortcut(in_planes, planes * self.expansion, stride)
        self.out = activation(act)

    def forward(self, x):
        return self.out(self.residual(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int, act: str) -> None:
        super().__init__()
        width = planes * self.expansion
        self.residual = nn.Sequential(
            nn.Conv2d(in_planes, planes, 1, bias=False),
            nn.BatchNorm2d(planes),
            activation(act),
            nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(planes),
            activation(act),
            nn.Conv2d(planes, width, 1, bias=False),
            nn.BatchNorm2d(width),
        )
        self.shortcut = _shortcut(in_planes, width, stride)
        self.out = activation(act)

    def forward(self, x):
        return self.out(self.residual(x) + self.shortcut(x))


def _shortcut(in_planes: int, out_planes: int, stride: int) -> nn.Module:
    if stride == 1 and in_planes == out_planes:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False), nn.BatchNorm2d(out_planes))


class ResNet(nn.Module):
    def __init__(
        self, block, depths, act: str = "relu", dropout: float = 0.0, num_classes: int = 10, width: float = 1.0
    ) -> None:
        super().__init__()
        widths = [scaled(planes, width) for planes in (64, 128, 256, 512)]
        in_planes = widths[0]
        self.stem = nn.Sequential(
            nn.Conv2d(3, in_planes, 3, padding=1, bias=False), nn.BatchNorm2d(in_planes), activation(act)
        )
        stages = []
        for index, (planes, blocks) in enumerate(zip(widths, depths, strict=True)):
            layers = []
            for b in range(blocks):
                layers.append(block(in_planes, planes, 2 if (b == 0 and index > 0) else 1, act))
                in_planes = planes * block.expansion
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(in_planes, num_classes)
        )

    def forward(self, x):
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.head(x)


DEPTHS = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
    "resnet101": (Bottleneck, (3, 4, 23, 3)),
    "resnet152": (Bottleneck, (3, 8, 36, 3)),
}


def resnet(name: str, act: str = "relu", dropout: float = 0.0, num_classes: int = 10, width: float = 1.0) -> ResNet:
    block, depths = DEPTHS[name]
    return ResNet(block, depths, act, dropout, num_classes, width)
