"""What a model's signatures ask of the server beyond their SignatureDefs: request limits on the
whole request, and how their rows may be split.

The export writes them (from what the app declares) to `assets.extra/kapps_serving.json`:

    {"signatures": {"<signature>": {
        "max_rows": {"<input>": N},       # at most N rows of that input per request
        "max_sum": {"<input>": N},        # its values (negatives as 0) add up to at most N
        "padded_outputs": {"<output>": v},  # padded with v to the request's largest row
        "whole_requests": true}}}         # rows depend on each other: never split nor merged

The server checks the limits on the whole request before it chunks or batches it (the graph
only sees a chunk, or a batch of several clients). A signature with padded outputs answers
each row padded to the largest row of its own request, so its chunks are joined padded with
`v`, and it is never batched with other clients' requests (their rows would pad it). A model
without the file is served as before: only its graph checks its inputs.
"""

import json
from pathlib import Path

import numpy as np

from serving.errors import invalid_argument

RULES_FILE = "kapps_serving.json"
_KEYS = {"max_rows", "max_sum", "padded_outputs", "whole_requests"}


class SignatureRules:
    """The rules of one signature (all empty for a signature that declares none)."""

    def __init__(self, name, declared=None):
        declared = declared or {}
        unknown = set(declared) - _KEYS
        if unknown:
            raise ValueError(f"{RULES_FILE}: signature '{name}' has unknown rules {sorted(unknown)}")
        self.name = name
        self.max_rows = {str(k): int(v) for k, v in declared.get("max_rows", {}).items()}
        self.max_sum = {str(k): int(v) for k, v in declared.get("max_sum", {}).items()}
        self.padded_outputs = dict(declared.get("padded_outputs", {}))
        self.whole_requests = bool(declared.get("whole_requests", False))

    @property
    def batchable(self):
        """Whether its requests may be merged with other clients' into one run."""
        return not (self.padded_outputs or self.whole_requests)

    def check(self, inputs):
        """Refuses a request over a limit (INVALID_ARGUMENT, as the graph's own checks)."""
        for name, limit in self.max_rows.items():
            array = inputs.get(name)
            rows = np.shape(array)[0] if array is not None and np.ndim(array) else 0
            if rows > limit:
                raise invalid_argument(
                    f"{name}: {rows} rows is over the limit of {limit} per request (signature '{self.name}')"
                )
        for name, limit in self.max_sum.items():
            array = inputs.get(name)
            if array is None or np.asarray(array).dtype.kind not in "iuf":
                continue
            total = np.maximum(np.asarray(array, np.float64), 0).sum()
            if total > limit:
                raise invalid_argument(
                    f"{name}: the request asks for {total:.0f} in all, over the limit of {limit} "
                    f"per request (signature '{self.name}')"
                )


class ModelRules:
    """The rules of a SavedModel's signatures (`assets.extra/kapps_serving.json`)."""

    def __init__(self, declared=None):
        self._signatures = {name: SignatureRules(name, rules) for name, rules in (declared or {}).items()}

    def __getitem__(self, signature_name):
        rules = self._signatures.get(signature_name)
        if rules is None:
            rules = self._signatures[signature_name] = SignatureRules(signature_name)
        return rules

    @classmethod
    def read(cls, export_dir):
        """The rules in a version folder; none when it has no rules file. A rules file that
        cannot be read fails the load (serving without its limits would be unsafe)."""
        path = Path(export_dir) / "assets.extra" / RULES_FILE
        if not path.exists():
            return cls()
        try:
            document = json.loads(path.read_text())
            return cls(document["signatures"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"{path}: unreadable request rules: {error}") from None


def write_rules(export_dir, signatures):
    """Writes `{signature: rules}` to the version's `assets.extra/` (nothing when empty)."""
    if not signatures:
        return None
    ModelRules(signatures)  # refuses a rule the server would not understand
    folder = Path(export_dir) / "assets.extra"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RULES_FILE
    path.write_text(json.dumps({"signatures": signatures}, indent=1, sort_keys=True) + "\n")
    return path
