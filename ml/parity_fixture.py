"""Trains small XGBoost models on synthetic data and records xgboost's own predictions, so the
TypeScript scorer (lambdas/shared/xgboost.ts) can be checked against xgboost row by row.

Usage: /usr/bin/python3 ml/parity_fixture.py OUT_DIR [--rows N]

One model per definition in ml/models.json (its objective, feature count and hyperparameters),
plus a deep reg:squarederror model without feature names. For each model NAME, OUT_DIR receives:
  NAME.model.json   Booster.save_model output (XGBoost's JSON format)
  NAME.rows.csv     the evaluation rows, no header, a missing value as an empty field, every
                    value written with all the digits of its double
  NAME.expected.json {"margin": [...], "prediction": [...]} from Booster.predict on those rows
and manifest.json lists the models with their objective and row count.

The evaluation rows have missing values in every column, and a share of them sits just beside a
split threshold: a double that rounds to the float32 threshold itself, on either side. xgboost
compares float32 values, so such a row goes right; a scorer comparing doubles sends half of them
left.
"""

import json
import os
import sys

import numpy as np
import xgboost as xgb

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_spec  # noqa: E402

SEED = 20240611
TRAIN_ROWS = 4000
MISSING_SHARE = 0.12
BESIDE_THRESHOLD_SHARE = 0.3


def synthetic_features(rng, rows, columns):
    """Columns of different kinds: wide-ranged, skewed, 0/1 indicators and small integers."""
    x = np.empty((rows, columns))
    for column in range(columns):
        kind = column % 4
        if kind == 0:
            x[:, column] = rng.normal(20.0, 8.0, rows)
        elif kind == 1:
            x[:, column] = rng.lognormal(1.0, 1.0, rows)
        elif kind == 2:
            x[:, column] = rng.integers(0, 2, rows)
        else:
            x[:, column] = rng.integers(0, 60, rows) + rng.random(rows) / 3.0
    x[rng.random(x.shape) < MISSING_SHARE] = np.nan
    return x


def signal(x):
    """A non-linear function of a few columns, with missing values counting as a shift."""
    filled = np.nan_to_num(x, nan=-1.0)
    columns = x.shape[1]
    s = 0.15 * (filled[:, 0] - 20.0) + 0.8 * np.log1p(np.abs(filled[:, 1 % columns]))
    s += 1.2 * filled[:, 2 % columns] * (filled[:, 3 % columns] > 30)
    s += 0.6 * np.isnan(x[:, 1 % columns])
    s += 0.05 * filled[:, min(5, columns - 1)]
    return s


def labels(rng, objective, x):
    s = signal(x)
    if objective == "binary:logistic":
        p = 1.0 / (1.0 + np.exp(-(s - np.median(s))))
        return (rng.random(len(s)) < p).astype(float)
    if objective == "reg:tweedie":
        energy = np.exp(0.5 * s) * rng.gamma(2.0, 0.5, len(s))
        energy[rng.random(len(s)) < 0.2] = 0.0
        return energy
    return 10.0 * s + rng.normal(0.0, 1.0, len(s))


def thresholds(model_path):
    """Every (feature, threshold) pair the saved model splits on."""
    with open(model_path, encoding="utf-8") as file:
        trees = json.load(file)["learner"]["gradient_booster"]["model"]["trees"]
    pairs = []
    for tree in trees:
        for node, left in enumerate(tree["left_children"]):
            if left != -1:
                pairs.append((tree["split_indices"][node], tree["split_conditions"][node]))
    return pairs


def beside(threshold, rng):
    """A double other than the float32 threshold that still rounds to it."""
    t32 = np.float32(threshold)
    gap = float(np.spacing(np.abs(t32))) if t32 != 0 else float(np.finfo(np.float32).tiny)
    offset = rng.uniform(0.05, 0.45) * gap * rng.choice([-1.0, 1.0])
    value = float(t32) + offset
    return value if np.float32(value) == t32 and value != float(t32) else float(t32)


def evaluation_rows(rng, rows, columns, pairs):
    x = synthetic_features(rng, rows, columns)
    for row in np.flatnonzero(rng.random(rows) < BESIDE_THRESHOLD_SHARE):
        for _ in range(3):
            feature, threshold = pairs[rng.integers(0, len(pairs))]
            x[row, feature] = beside(threshold, rng)
    return x


def write_rows(path, x):
    with open(path, "w", encoding="utf-8") as file:
        for row in x:
            file.write(",".join("" if np.isnan(v) else repr(float(v)) for v in row) + "\n")


def train_one(out_dir, name, objective, params, rounds, feature_names, columns, rows, rng):
    x_train = synthetic_features(rng, TRAIN_ROWS, columns)
    train = xgb.DMatrix(x_train, label=labels(rng, objective, x_train), feature_names=feature_names)
    booster = xgb.train({**params, "objective": objective}, train, num_boost_round=rounds)
    model_path = os.path.join(out_dir, f"{name}.model.json")
    booster.save_model(model_path)

    x_eval = evaluation_rows(rng, rows, columns, thresholds(model_path))
    write_rows(os.path.join(out_dir, f"{name}.rows.csv"), x_eval)
    # A fresh DMatrix: predictions are computed, not read from the training cache.
    evaluation = xgb.DMatrix(x_eval, feature_names=feature_names)
    expected = {
        "margin": booster.predict(evaluation, output_margin=True).astype(np.float64).tolist(),
        "prediction": booster.predict(evaluation).astype(np.float64).tolist(),
    }
    with open(os.path.join(out_dir, f"{name}.expected.json"), "w", encoding="utf-8") as file:
        json.dump(expected, file)
    return {"name": name, "objective": objective, "rows": rows, "features": columns, "trees": rounds}


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out_dir = argv[1]
    rows = int(argv[argv.index("--rows") + 1]) if "--rows" in argv else 2000
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(SEED)
    spec = model_spec.load()
    models = []
    for name in model_spec.MODEL_NAMES:
        definition = spec["models"][name]
        names = model_spec.feature_names(spec, name)
        models.append(
            train_one(
                out_dir,
                name,
                definition["objective"],
                model_spec.train_params(spec, name),
                model_spec.num_round(spec, name),
                names,
                len(names),
                rows,
                rng,
            )
        )
    deep = {"max_depth": 10, "eta": 0.3, "tree_method": "exact", "seed": 7, "min_child_weight": 0}
    models.append(train_one(out_dir, "deep_squarederror", "reg:squarederror", deep, 60, None, 9, rows, rng))
    with open(os.path.join(out_dir, "manifest.json"), "w", encoding="utf-8") as file:
        json.dump({"xgboost": xgb.__version__, "models": models}, file, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
