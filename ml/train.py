"""Trains one model of ml/models.json on CSV channels, as SageMaker's built-in XGBoost 1.7 does.

usage: /usr/bin/python3 ml/train.py --model NAME --train FILE --validation FILE --out MODEL.json

The channels are headerless CSV with the label in the first column and the model's features after
it in models.json order; an empty field is a missing value. They are read with XGBoost's own CSV
loader (`<file>?format=csv&label_column=0`), the one the built-in container uses, so that local and
cloud training see the same matrix. The model is saved as XGBoost JSON, which the TypeScript scorer
(lambdas/shared/xgboost.ts) reads and the container loads.

Prints one JSON line: the model, rows per channel, the parameters, and the last evaluation values.
Called by `sdap train`; run it by hand only to experiment.
"""

import argparse
import json
import os
import sys

import model_spec


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, choices=model_spec.MODEL_NAMES)
    parser.add_argument("--train", required=True, help="training channel (CSV, label first)")
    parser.add_argument("--validation", required=True, help="validation channel (CSV, label first)")
    parser.add_argument("--out", required=True, help="where to write the model (XGBoost JSON)")
    parser.add_argument("--spec", default=model_spec.SPEC_PATH, help="the models file")
    parser.add_argument(
        "--threads", type=int, default=1,
        help="training threads; 1 (the default) makes a rerun on the same data give the same bytes",
    )
    args = parser.parse_args(argv[1:])

    try:
        spec = model_spec.load(args.spec)
    except (model_spec.ModelSpecError, OSError) as error:
        print(error, file=sys.stderr)
        return 1
    for channel in (args.train, args.validation):
        if not os.path.isfile(channel) or os.path.getsize(channel) == 0:
            print(f"{channel}: expected a non-empty CSV file", file=sys.stderr)
            return 1

    # Imported here so that --help and a bad spec answer without the library.
    import xgboost

    expected = len(model_spec.feature_names(spec, args.model))
    train = xgboost.DMatrix(f"{args.train}?format=csv&label_column=0")
    validation = xgboost.DMatrix(f"{args.validation}?format=csv&label_column=0")
    for name, matrix in (("train", train), ("validation", validation)):
        # The CSV loader sizes the matrix by the widest row it saw with a value in its last column.
        if matrix.num_col() > expected:
            print(
                f"{name}: received {matrix.num_col()} feature columns, expected {expected} for {args.model}",
                file=sys.stderr,
            )
            return 1

    params = model_spec.train_params(spec, args.model)
    params["nthread"] = args.threads
    history = {}
    booster = xgboost.train(
        params,
        train,
        num_boost_round=model_spec.num_round(spec, args.model),
        evals=[(train, "train"), (validation, "validation")],
        evals_result=history,
        verbose_eval=False,
    )
    booster.save_model(args.out)
    last = {
        channel: {metric: values[-1] for metric, values in metrics.items()}
        for channel, metrics in history.items()
    }
    print(
        json.dumps(
            {
                "model": args.model,
                "rows": {"train": train.num_row(), "validation": validation.num_row()},
                "params": params,
                "num_round": model_spec.num_round(spec, args.model),
                "evaluation": last,
                "xgboost": xgboost.__version__,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
