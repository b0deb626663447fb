"""`--retrain-best`: train the best config like `kapps <app> train`, export it like
`kapps <app> export`."""

import json

from apps.core import workflow


def retrain_config(best_config, max_examples=0):
    """The best config on all training examples (`max_examples=0`) unless capped."""
    if best_config is None:
        raise ValueError("No completed trial with a config to retrain (did every trial fail?).")
    return best_config.replace(max_examples=max_examples)


def retrain_best(app, best_config, folder, *, max_examples=0, model_base_path="models"):
    """Trains into a new `runs/<app>/<run-id>/` folder and exports it; records both in
    `retrained.json` of the tuning folder. Returns (run, metrics, export_path)."""
    import keras

    keras.backend.clear_session()
    config = retrain_config(best_config, max_examples)
    run, metrics = workflow.train(app, config)
    export_path = workflow.export(app, run.path, model_base_path)
    folder.retrained_path.write_text(
        json.dumps(
            {"run_dir": str(run.path), "export": str(export_path), "config": config.to_dict(), "metrics": metrics},
            indent=2,
            default=float,
        )
        + "\n"
    )
    return run, metrics, export_path
