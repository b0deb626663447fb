"""`kapps <app> tune`: Keras Tuner searches over any app's typed config.

Modules:
    cli          the `tune` subcommand's flags and entry point (`add_arguments`, `run`).
    settings     `TuneSettings`, the search's options, and `TuneFolder`, its paths.
    objective    objective direction and the before-the-first-trial metric check.
    tuners       Keras Tuner's four tuners with trial bookkeeping added.
    search       builds the tuner and runs (or resumes) the search.
    report       trial table (CSV, JSON, text) and best_hyperparameters.json.
    importance   which hyperparameters matter most; `plots` draws them.
    distributed  Keras Tuner's chief/worker environment variables.
    retrain      trains and exports the best config.
"""
