"""Typed app configs: dataclasses that the CLI overrides and every run saves."""

import argparse
import dataclasses
import inspect
import json
import re
import typing
from pathlib import Path
from typing import ClassVar, Literal

from apps.core.errors import ConfigError
from apps.core.precision import JIT_CHOICES

# The values of the shared fields that take one of a few words; `Literal` types give the CLI its
# choices and `validate` its check.
DISTRIBUTE_CHOICES = ("none", "mirrored", "multi-worker", "data-parallel")
OPTIMIZER_CHOICES = ("adam", "adamw", "rmsprop", "adagrad", "sgd")


@dataclasses.dataclass(frozen=True)
class PredictInputs:
    """What `kapps <app> predict` takes (`apps.cli`; the app's `request_from_cli` reads it).

    Attributes:
        description: what one INPUT argument is (a file, a text, a row...).
        options: integer flags for apps whose inputs are settings rather than files (a
            generator's seed and count), `{name: help}`; each becomes an item `name=value`, and
            with options the INPUT arguments are optional.
    """

    description: str = "an input file or value"
    options: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class AppConfig:
    """Fields every app shares. Apps subclass this and add their own.

    Attributes:
        data: where examples come from: `tfds[:NAME]`, `files:PATH`, `builtin`, or
            `records:DIR` (the TFRecord shards `kapps <app> prepare-data` wrote; image apps).
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
        field_metrics_every: compute the app's whole-split validation metrics (mAP, mean IoU,
            FID: logged as `val_*`) every this many epochs (and always after the last one).
        field_metrics_examples: validation examples those metrics read (0: the whole split).
        mixed_precision: compute in 16 bits with float32 variables (Keras' `mixed_float16`
            policy on a GPU, `mixed_bfloat16` elsewhere; `apps.core.precision`).
        jit_compile: XLA compilation of the training and prediction steps: `auto` (Keras'
            choice), `on` or `off`.
        distribute: train on several devices or machines: `none`, `mirrored` or
            `multi-worker` (TensorFlow), `data-parallel` (JAX); `apps.core.distribute`.
        replicas: devices `mirrored`/`data-parallel` train on (0: every GPU, or one CPU;
            more than one on a CPU-only machine splits the CPU into logical devices).
        data_service: `grpc://HOST:PORT` of a tf.data service dispatcher: the training
            input pipeline runs on its workers (`kapps data-service`; `apps.core.data_service`).
    """

    data: str = "builtin"
    model: str = "default"
    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 1e-3
    optimizer: Literal[OPTIMIZER_CHOICES] = "adam"
    seed: int = 1337
    validation_fraction: float = 0.1
    max_examples: int = 0
    warmup_epochs: float = 0.0
    weight_decay: float = 0.0
    first_cycle_epochs: float = 0.0
    ema_momentum: float = 0.0
    field_metrics_every: int = 1
    field_metrics_examples: int = 0
    mixed_precision: bool = False
    jit_compile: Literal[JIT_CHOICES] = "auto"
    distribute: Literal[DISTRIBUTE_CHOICES] = "none"
    replicas: int = 0
    data_service: str = ""

    # Shared fields the app does not honour, `{field: why, and what to do instead}`: setting one
    # is an error, never ignored (`unsupported_fields`).
    UNSUPPORTED_FIELDS: ClassVar[dict] = {}
    # What `kapps <app> predict` takes (`PredictInputs`).
    PREDICT_INPUTS: ClassVar[PredictInputs] = PredictInputs()

    def replace(self, **changes):
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"{type(self).__name__} has no field(s) {sorted(unknown)}.")
        return dataclasses.replace(self, **changes)

    def unsupported_fields(self):
        """`{field: why}` of the fields this config does not honour: the class's `UNSUPPORTED_FIELDS`;
        subclasses add those that the config's own values leave unused (another model's fields)."""
        return dict(self.UNSUPPORTED_FIELDS)

    def validate(self):
        """Raises `ConfigError` for values the app cannot honour; returns the config. The one check of
        a config: every driver calls it once (`apps.core.workflow.train`, `prepare-data`, tuner trials).

        A field of `unsupported_fields` set away from its default is refused with its reason.
        Subclasses add their own checks and call `super().validate()`.
        """
        defaults = type(self)()
        for name, why in self.unsupported_fields().items():
            if getattr(self, name) != getattr(defaults, name):
                raise ConfigError(f"{_flag(name)}: {why}")
        for field in dataclasses.fields(self):
            _check_type(self, field.name, _resolved_hints(type(self))[field.name])
        self._validate_distribution()
        self._validate_data_service()
        return self

    def _validate_data_service(self):
        from apps.core.data_service import parse_address

        if not self.data_service:
            return
        parse_address(self.data_service)
        if self.distribute == "multi-worker":
            raise ConfigError(
                "--data-service feeds one trainer process (on one machine's devices); with "
                "--distribute multi-worker each worker reads its own input: drop one of them."
            )

    def _validate_distribution(self):
        if self.replicas < 0:
            raise ConfigError(f"--replicas must be 0 (every device) or more, got {self.replicas}.")
        if self.replicas and self.distribute == "none":
            raise ConfigError("--replicas needs --distribute mirrored or data-parallel.")
        if self.replicas > 1 and self.batch_size % self.replicas:
            raise ConfigError(
                f"--batch-size {self.batch_size} is the global batch: it must split evenly "
                f"over --replicas {self.replicas}."
            )

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"{cls.__name__} has no field(s) {sorted(unknown)}.")
        hints = _resolved_hints(cls)
        values = {
            name: tuple(value) if _item_type(hints[name]) and isinstance(value, list) else value
            for name, value in values.items()
        }  # JSON stores tuples as lists
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


SCALAR_TYPES = (bool, int, float, str)


def _resolved_hints(config_class):
    return typing.get_type_hints(config_class)


def _item_type(kind):
    """The element type of a `tuple[int, ...]`/`list[str]` field, None for a scalar field."""
    origin = typing.get_origin(kind)
    if origin not in (tuple, list):
        return None
    arguments = [argument for argument in typing.get_args(kind) if argument is not Ellipsis]
    if len(set(arguments)) != 1 or arguments[0] not in SCALAR_TYPES:
        raise TypeError(f"unsupported config sequence type {kind!r}: use tuple[T, ...] with T in bool/int/float/str")
    return arguments[0]


def _choices(kind):
    """The words a `Literal[...]` field takes, None for other fields."""
    return typing.get_args(kind) if typing.get_origin(kind) is Literal else None


def _scalar_parser(kind):
    if _choices(kind):
        return str
    if kind is bool:
        return _parse_bool
    if kind in (int, float, str):
        return kind
    raise TypeError(f"unsupported config type {kind!r}")


def _sequence_parser(item_type):
    parse_item = _scalar_parser(item_type)

    def parse(text):
        items = [item.strip() for item in text.split(",")] if text.strip() else []
        try:
            return tuple(parse_item(item) for item in items)
        except ValueError as error:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {item_type.__name__}, got {text!r} ({error})"
            ) from None

    return parse


def _field_type(config_class, field):
    kind = _resolved_hints(config_class)[field.name]
    try:
        item_type = _item_type(kind)
        return _sequence_parser(item_type) if item_type else _scalar_parser(kind)
    except TypeError as error:
        raise TypeError(f"{config_class.__name__}.{field.name}: {error}") from None


def _metavar(kind):
    if _choices(kind):
        return "{" + ",".join(_choices(kind)) + "}"
    item_type = _item_type(kind)
    return f"{item_type.__name__.upper()},..." if item_type else kind.__name__.upper()


def _check_type(config, name, kind):
    value = getattr(config, name)
    if _choices(kind):
        if value not in _choices(kind):
            raise ConfigError(f"{_flag(name)} must be one of {', '.join(_choices(kind))}, got {value!r}.")
        return
    item_type = _item_type(kind)
    if item_type is None:
        expected = (int, float) if kind is float else kind
        ok = isinstance(value, expected) and (kind is bool or not isinstance(value, bool))
    else:
        ok = isinstance(value, (tuple, list)) and all(
            isinstance(item, (int, float) if item_type is float else item_type) for item in value
        )
    if not ok:
        raise ConfigError(f"{type(config).__name__}.{name} must be {_metavar(kind).lower()}, got {value!r}.")


def field_descriptions(config_class):
    """`{field: description}` from the `Attributes:` sections of the config class's docstring and
    its bases' (a subclass's description wins)."""
    descriptions = {}
    for klass in reversed(config_class.__mro__):
        section = re.split(r"^\s*Attributes:\s*$", inspect.getdoc(klass) or "", maxsplit=1, flags=re.M)
        if len(section) < 2:
            continue
        names = ()
        for line in section[1].splitlines():
            entry = re.match(r"^    (\w+(?:, \w+)*): (.*)$", line)  # `a, b: ...` describes both
            if entry:
                names = entry.group(1).split(", ")
                descriptions.update(dict.fromkeys(names, entry.group(2).strip()))
            elif names and line.startswith("        "):
                for name in names:
                    descriptions[name] += " " + line.strip()
            elif line.strip():
                names = ()
    return descriptions


def add_config_arguments(parser, config_class):
    """Adds one `--field-name` flag per config field, its help from the config's docstring; unset flags
    keep the defaults.

    Sequence fields (`tuple[int, ...]`) take comma-separated values: `--anchor-ratios 0.5,1,2`;
    `Literal[...]` fields take one of their words.
    """
    group = parser.add_argument_group(f"{config_class.__name__} fields")
    hints = _resolved_hints(config_class)
    defaults = config_class()
    descriptions = field_descriptions(config_class)
    for field in dataclasses.fields(config_class):
        unsupported = config_class.UNSUPPORTED_FIELDS.get(field.name)
        description = descriptions.get(field.name, "").replace("%", "%%")
        group.add_argument(
            _flag(field.name),
            dest=f"config__{field.name}",
            type=_field_type(config_class, field),
            choices=_choices(hints[field.name]),
            default=None,
            metavar=_metavar(hints[field.name]),
            help=f"(not used by this app: {unsupported})".replace("%", "%%")
            if unsupported
            else f"{description} (default: {getattr(defaults, field.name)!r})".lstrip(),
        )


def overrides_from_args(args):
    """The config fields the user set on the command line."""
    return {
        key[len("config__") :]: value
        for key, value in vars(args).items()
        if key.startswith("config__") and value is not None
    }
