"""Typed app configs: dataclasses that the CLI overrides and every run saves."""

import argparse
import dataclasses
import json
import typing
from pathlib import Path


@dataclasses.dataclass
class AppConfig:
    """Fields every app shares. Apps subclass this and add their own.

    Attributes:
        data: where examples come from: `tfds[:NAME]`, `files:PATH` or `builtin`.
        model: which architecture of the app to build.
        epochs: training epochs.
        batch_size: examples per training step.
        learning_rate: peak learning rate of the optimizer.
        optimizer: `adam`, `adamw`, `rmsprop`, `adagrad` or `sgd` (with momentum).
        seed: seeds Python, NumPy, the backend and the input pipeline.
        validation_fraction: share of the training data held out for validation.
        max_examples: cap on training examples (0: all); for quick runs and tests.
        warmup_epochs: linear learning-rate warm-up before the cosine decay.
        weight_decay: decoupled weight decay (AdamW); 0 turns it off.
        first_cycle_epochs: 0 decays the learning rate once, over all epochs (cosine); a
            positive value anneals it to zero after this many epochs first, then restarts
            it for one cosine cycle over the remaining epochs (SGDR): a good model early.
            A training too short for two cycles has one.
        ema_momentum: momentum of an exponential moving average of the weights that replaces
            them at the end of each epoch (0 turns it off; 0.99 to 0.999 are usual).
    """

    data: str = "builtin"
    model: str = "default"
    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    seed: int = 1337
    validation_fraction: float = 0.1
    max_examples: int = 0
    warmup_epochs: float = 0.0
    weight_decay: float = 0.0
    first_cycle_epochs: float = 0.0
    ema_momentum: float = 0.0

    def replace(self, **changes):
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"{type(self).__name__} has no field(s) {sorted(unknown)}.")
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"{cls.__name__} has no field(s) {sorted(unknown)}.")
        return cls(**values)

    def save(self, path):
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path):
        return cls.from_dict(json.loads(Path(path).read_text()))

    def describe(self):
        width = max(len(f.name) for f in dataclasses.fields(self))
        lines = [f"{type(self).__name__}:"]
        lines += [f"  {f.name:<{width}} = {getattr(self, f.name)!r}" for f in dataclasses.fields(self)]
        return "\n".join(lines)


def _flag(name):
    return "--" + name.replace("_", "-")


def _parse_bool(text):
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _field_type(config_class, field):
    hints = typing.get_type_hints(config_class)
    kind = hints[field.name]
    if kind is bool:
        return _parse_bool
    if kind in (int, float, str):
        return kind
    raise TypeError(f"{config_class.__name__}.{field.name}: unsupported config type {kind!r}")


def add_config_arguments(parser, config_class):
    """Adds one `--field-name` flag per config field; unset flags keep the defaults."""
    group = parser.add_argument_group(f"{config_class.__name__} fields")
    for field in dataclasses.fields(config_class):
        group.add_argument(
            _flag(field.name),
            dest=f"config__{field.name}",
            type=_field_type(config_class, field),
            default=None,
            metavar=typing.get_type_hints(config_class)[field.name].__name__.upper(),
            help=f"(default: {field.default!r})",
        )


def overrides_from_args(args):
    """The config fields the user set on the command line."""
    return {
        key[len("config__"):]: value
        for key, value in vars(args).items()
        if key.startswith("config__") and value is not None
    }
