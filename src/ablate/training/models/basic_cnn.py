"""The original report's basic network (its cifar10 raw.py): two conv/pool stages and three linear layers."""

from torch import nn

from ablate.training.components import activation, scaled


class BasicCNN(nn.Module):
    def __init__(self, act: str = "relu", dropout: float = 0.0, num_classes: int = 10, width: float = 1.0) -> None:
        super().__init__()
        channels, fc1, fc2 = scaled(64, width), scaled(384, width), scaled(192, width)
        self.features = nn.Sequential(
            nn.Conv2d(3, channels, kernel_size=5),
            activation(act),  # 32 -> 28
            nn.MaxPool2d(kernel_size=3, stride=2),  # 28 -> 13
            nn.Conv2d(channels, channels, kernel_size=5),
            activation(act),  # 13 -> 9
            nn.MaxPool2d(kernel_size=3, stride=2),  # 9 -> 4
        )
        # dropout after fc1 and fc2 (the original code applied it always; Table 1 says none)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * 4 * 4, fc1),
            activation(act),
            nn.Dropout(dropout),
            nn.Linear(fc1, fc2),
            activation(act),
            nn.Dropout(dropout),
            nn.Linear(fc2, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))
