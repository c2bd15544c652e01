"""The ML models' definitions (ml/models.json) as local training reads them.

The same file is validated by ml/model-spec.ts for the SageMaker training job, so both take their
feature lists and hyperparameters from one place. This check mirrors the TypeScript one (a test
runs both on the same broken files); each problem names the field, the value received and what is
expected.

Usage: /usr/bin/python3 ml/model_spec.py [models.json]
  validates the file and prints, per model, the parameters xgboost.train receives, as JSON.
"""

import json
import math
import os
import re
import sys

SPEC_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models.json")
MODEL_NAMES = ("anomaly", "failure", "energy")
OBJECTIVES = ("binary:logistic", "reg:squarederror", "reg:tweedie")
TABLES = ("ml_features", "reading")
DEVICE_TYPES = ("thermostat", "camera", "smart_lock", "sensor")
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")
METRIC_NAME = re.compile(r"^[a-z][a-z-]*(@[0-9.]+)?$")


class ModelSpecError(ValueError):
    """The spec is invalid; the message has one line per problem."""


def _int(low, high):
    def check(value):
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        return ok, f"an integer from {low} to {high}"

    return check


def _number(test, expected):
    def check(value):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return ok and test(value), expected

    return check


def _one_of(*choices):
    return lambda value: (value in choices, "one of " + ", ".join(choices))


def _metric(value):
    return isinstance(value, str) and METRIC_NAME.match(value) is not None, "an XGBoost metric name"


# name -> (required, check); the same names and bounds as ml/model-spec.ts.
HYPERPARAMETERS = {
    "num_round": (True, _int(1, 10_000)),
    "max_depth": (True, _int(1, 20)),
    "eta": (True, _number(lambda v: 0 < v <= 1, "a number in (0, 1]")),
    "subsample": (False, _number(lambda v: 0 < v <= 1, "a number in (0, 1]")),
    "colsample_bytree": (False, _number(lambda v: 0 < v <= 1, "a number in (0, 1]")),
    "min_child_weight": (False, _number(lambda v: v >= 0, "a number >= 0")),
    "gamma": (False, _number(lambda v: v >= 0, "a number >= 0")),
    "lambda": (False, _number(lambda v: v >= 0, "a number >= 0")),
    "alpha": (False, _number(lambda v: v >= 0, "a number >= 0")),
    "scale_pos_weight": (False, _number(lambda v: v > 0, "a number > 0")),
    "tree_method": (True, _one_of("auto", "exact", "approx", "hist")),
    "max_bin": (False, _int(2, 65_535)),
    "tweedie_variance_power": (False, _number(lambda v: 1 < v < 2, "a number in (1, 2)")),
    "eval_metric": (False, _metric),
    "seed": (True, _int(0, 2_147_483_647)),
}


_MISSING = object()


def _show(value):
    return "nothing" if value is _MISSING else json.dumps(value)


def _problems(spec):
    problems = []

    def fail(path, value, expected):
        problems.append(f"{path}: received {_show(value)}, expected {expected}")

    if not isinstance(spec, dict):
        fail("(root)", spec, "an object")
        return problems
    if spec.get("version", _MISSING) != 1:
        fail("version", spec.get("version", _MISSING), "1")
    version = spec.get("sagemakerXgboostVersion", _MISSING)
    if not (isinstance(version, str) and re.match(r"^1\.7-\d+$", version)):
        fail("sagemakerXgboostVersion", version, "a SageMaker XGBoost 1.7 image version such as '1.7-1'")
    models = spec.get("models", _MISSING)
    if not isinstance(models, dict):
        fail("models", models, "an object of models")
        return problems
    for name in MODEL_NAMES:
        if name not in models:
            fail(f"models.{name}", _MISSING, "a model definition")
    unknown = [name for name in models if name not in MODEL_NAMES]
    if unknown:
        problems.append(f"models: received unknown key(s) {', '.join(unknown)}, expected only the documented keys")
    for name in MODEL_NAMES:
        if isinstance(models.get(name), dict):
            problems.extend(_model_problems(f"models.{name}", models[name]))
    return problems


def _model_problems(path, model):
    problems = []

    def fail(field, value, expected):
        problems.append(f"{path}.{field}: received {_show(value)}, expected {expected}")

    objective = model.get("objective", _MISSING)
    if objective not in OBJECTIVES:
        fail("objective", objective, "one of " + ", ".join(OBJECTIVES))
    threshold = model.get("threshold", _MISSING)
    if threshold is not _MISSING:
        ok, expected = _number(lambda v: 0 < v < 1, "a number in (0, 1)")(threshold)
        if not ok:
            fail("threshold", threshold, expected)
        elif objective != "binary:logistic":
            fail("threshold", threshold, "nothing: it applies to binary:logistic only")
    table = model.get("table", _MISSING)
    if table not in TABLES:
        fail("table", table, "one of " + ", ".join(TABLES))
    device_types = model.get("deviceTypes", _MISSING)
    if not (isinstance(device_types, list) and device_types and all(t in DEVICE_TYPES for t in device_types)):
        fail("deviceTypes", device_types, "an array of device types")
    features = model.get("features", _MISSING)
    if not (isinstance(features, list) and features):
        fail("features", features, "at least one feature")
        features = []
    seen = set()
    for index, feature in enumerate(features):
        name = feature.get("name", _MISSING) if isinstance(feature, dict) else _MISSING
        if not (isinstance(name, str) and SNAKE_CASE.match(name)):
            fail(f"features.{index}.name", name, "a snake_case name")
        elif name in seen:
            fail(f"features.{index}.name", name, "a name not used before")
        seen.add(name)
        if isinstance(feature, dict) and feature.get("derived") and table != "reading":
            fail(f"features.{index}.derived", feature["derived"], f"nothing: an {table} feature is a column or an indicator")
    hyperparameters = model.get("hyperparameters", _MISSING)
    if not isinstance(hyperparameters, dict):
        fail("hyperparameters", hyperparameters, "an object of hyperparameters")
        return problems
    unknown = [key for key in hyperparameters if key not in HYPERPARAMETERS]
    if unknown:
        problems.append(
            f"{path}.hyperparameters: received unknown key(s) {', '.join(unknown)}, expected only the documented keys"
        )
    for key, (required, check) in HYPERPARAMETERS.items():
        value = hyperparameters.get(key, _MISSING)
        if value is _MISSING:
            if required:
                fail(f"hyperparameters.{key}", value, check(None)[1])
            continue
        ok, expected = check(value)
        if not ok:
            fail(f"hyperparameters.{key}", value, expected)
    if "tweedie_variance_power" in hyperparameters and objective != "reg:tweedie":
        fail(
            "hyperparameters.tweedie_variance_power",
            hyperparameters["tweedie_variance_power"],
            "nothing: it applies to reg:tweedie only",
        )
    if "scale_pos_weight" in hyperparameters and objective != "binary:logistic":
        fail("hyperparameters.scale_pos_weight", hyperparameters["scale_pos_weight"], "nothing: it applies to binary:logistic only")
    return problems


def validate(spec, source=SPEC_PATH):
    """Returns the spec when it is valid. Raises ModelSpecError otherwise."""
    problems = _problems(spec)
    if problems:
        raise ModelSpecError("\n".join(f"{source}: {problem}" for problem in problems))
    return spec


def load(path=SPEC_PATH):
    """Reads and validates a spec file."""
    with open(path, encoding="utf-8") as file:
        try:
            spec = json.load(file)
        except json.JSONDecodeError as error:
            raise ModelSpecError(f"{path}: expected JSON ({error})") from error
    return validate(spec, path)


def feature_names(spec, name):
    """The model's feature names, in CSV column order."""
    return [feature["name"] for feature in spec["models"][name]["features"]]


def num_round(spec, name):
    """Boosting rounds: `num_boost_round` for xgboost.train, `num_round` for SageMaker."""
    return spec["models"][name]["hyperparameters"]["num_round"]


def train_params(spec, name):
    """The `params` for xgboost.train: the objective and every hyperparameter except num_round."""
    model = spec["models"][name]
    params = {"objective": model["objective"]}
    params.update({key: value for key, value in model["hyperparameters"].items() if key != "num_round"})
    return params


def main(argv):
    path = argv[1] if len(argv) > 1 else SPEC_PATH
    try:
        spec = load(path)
    except (ModelSpecError, OSError) as error:
        print(error, file=sys.stderr)
        return 1
    summary = {
        name: {
            "params": train_params(spec, name),
            "num_round": num_round(spec, name),
            "features": feature_names(spec, name),
        }
        for name in MODEL_NAMES
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
