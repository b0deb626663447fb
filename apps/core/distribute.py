"""Training on several devices or machines: `kapps <app> train --distribute KIND`.

- `none` (default): one device.
- `mirrored`: `tf.distribute.MirroredStrategy` over this machine's GPUs; on a machine without
  GPUs, over `--replicas` logical devices split from the CPU (to try it, and for tests).
- `multi-worker`: `tf.distribute.MultiWorkerMirroredStrategy` over the machines that
  `TF_CONFIG` names (`deploy/training/`). Every worker runs the same command with the same
  `--run-dir`; the chief writes there, worker N into `<run-dir>/worker-N` (TensorFlow's
  guidance: only the chief's files are the run's). A killed worker's restart resumes from the
  last finished epoch (`keras.callbacks.BackupAndRestore`, as every run does).
- `data-parallel`: `keras.distribution.DataParallel` on JAX over its devices (`--replicas`: the
  first N). A CPU-only machine shows JAX one device unless started with
  `XLA_FLAGS=--xla_force_host_platform_device_count=N`; `kapps` sets it for `--replicas N`.

`--batch-size` is the global batch: each step reads that many examples and splits them evenly
over the replicas, so one step does the same update as on one device and the learning rate
needs no change. To fill N devices, raise `--batch-size` N-fold and `--learning-rate` with it
(the linear scaling rule of Goyal et al., 2017), with a few `--warmup-epochs`.
"""

import contextlib
import dataclasses
import json
import os
import sys

from apps.core.config import ConfigError

BACKEND_OF = {"mirrored": "tensorflow", "multi-worker": "tensorflow", "data-parallel": "jax"}
HOST_DEVICES_FLAG = "--xla_force_host_platform_device_count"


@dataclasses.dataclass
class Distribution:
    """Where one training runs: its replicas, and whether this process writes the run."""

    kind: str = "none"
    replicas: int = 1
    strategy: object = None  # a tf.distribute strategy, or a keras.distribution.Distribution
    worker_index: int = 0
    is_chief: bool = True

    def scope(self):
        """The context in which the model is built and trained."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def run_dir(self, run_dir):
        """This process's run folder: the run's own on the chief, `worker-N` in it elsewhere."""
        if self.is_chief or run_dir is None:
            return run_dir
        return os.path.join(str(run_dir), f"worker-{self.worker_index}")

    def split_evenly(self, data):
        """`data` whose training and validation batches split evenly over the replicas: each
        batch is cut to a multiple of the replica count, dropping at most `replicas - 1`
        examples of a split per epoch. An uneven batch fails: JAX shards a batch only into
        equal parts, and with TensorFlow's strategies (TF 2.21, Keras 3.15) Keras averages the
        first batch over the replicas to build its metrics, and a replica left with no example
        fails in convolutions. The test split is evaluated on one device, in full
        (`apps.core.workflow.train`)."""
        if self.replicas < 2:
            return data
        changes = {
            name: _batches_cut_to_multiple(getattr(data, name), self.replicas)
            for name in ("train", "validation")
            if getattr(data, name) is not None
        }
        return data.replace(**changes)

    def describe(self):
        if self.kind == "none":
            return "one device"
        role = "chief" if self.is_chief else f"worker {self.worker_index}"
        return f"{self.kind}, {self.replicas} replicas" + (f" ({role})" if self.kind == "multi-worker" else "")


def check_distribute(config, backend):
    """Raises `ConfigError` when `config.distribute` cannot run on `backend`."""
    kind = config.distribute
    if kind == "none":
        return
    needed = BACKEND_OF[kind]
    if backend != needed:
        others = ", ".join(f"{name} on {engine}" for name, engine in BACKEND_OF.items())
        raise ConfigError(
            f"--distribute {kind} runs on the {needed} backend, not {backend} "
            f"(add --backend {needed}); the engines are: {others}."
        )
    if kind == "multi-worker" and config.replicas:
        raise ConfigError(
            "--replicas does not apply to --distribute multi-worker: each worker "
            "uses its own devices; TF_CONFIG names the workers."
        )


def prepare_host_devices(backend, kind, replicas):
    """Before JAX loads: show it `replicas` CPU devices for `--distribute data-parallel`
    (a no-op with a GPU/TPU, where JAX counts those, and when XLA_FLAGS already says)."""
    if backend != "jax" or kind != "data-parallel" or replicas < 2 or "jax" in sys.modules:
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if HOST_DEVICES_FLAG not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {HOST_DEVICES_FLAG}={replicas}".strip()


def start_distribution(config):
    """The `Distribution` of `config.distribute` on the active backend. Call it before the
    backend runs anything: TensorFlow fixes its devices on the first op it runs."""
    import keras

    check_distribute(config, keras.backend.backend())
    if config.distribute in ("mirrored", "multi-worker"):
        _build_from_one_replica_batch()
    if config.distribute == "multi-worker":
        _average_scalar_logs_over_workers()
    if config.distribute == "mirrored":
        return _mirrored(config.replicas)
    if config.distribute == "multi-worker":
        return _multi_worker()
    if config.distribute == "data-parallel":
        return _data_parallel(config.replicas)
    return Distribution()


def _mirrored(replicas):
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        replicas = replicas or len(gpus)
        if replicas > len(gpus):
            raise ConfigError(f"--replicas {replicas}: this machine has {len(gpus)} GPU(s).")
        strategy = tf.distribute.MirroredStrategy([f"/gpu:{index}" for index in range(replicas)])
    else:
        replicas = replicas or 1
        # Reduced on one device, not with collective ops: collectives keyed per strategy clash
        # when a process trains twice (a notebook, the tests).
        strategy = tf.distribute.MirroredStrategy(
            [device.name for device in split_cpu(replicas)[:replicas]],
            cross_device_ops=tf.distribute.ReductionToOneDevice(),
        )
    return Distribution("mirrored", strategy.num_replicas_in_sync, strategy)


def split_cpu(count):
    """Splits the CPU into `count` logical TensorFlow devices (unless it already has as
    many); returns the logical CPU devices."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    configured = tf.config.get_logical_device_configuration(cpu)
    if len(configured or [None]) < count:
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
        except RuntimeError:
            pass  # TensorFlow has started: it has the devices it has
    devices = tf.config.list_logical_devices("CPU")
    if len(devices) < count:
        raise ConfigError(
            f"--replicas {count}: TensorFlow already started with {len(devices)} CPU device(s) "
            "in this process; run the training in a new process."
        )
    return devices


def cluster_spec():
    """`TF_CONFIG` as a dict, checked to name a cluster and this process's task."""
    text = os.environ.get("TF_CONFIG", "")
    if not text:
        raise ConfigError(
            "--distribute multi-worker reads the cluster from the TF_CONFIG environment variable "
            '({"cluster": {"worker": ["host1:port", ...]}, "task": {"type": "worker", '
            '"index": 0}}); deploy/training/README.md shows how to set it on each machine.'
        )
    try:
        spec = json.loads(text)
        workers = spec["cluster"]["worker"]
        task = spec["task"]
        kind, _ = task["type"], int(task["index"])  # the index must be a number
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            f"TF_CONFIG is not a cluster spec ({error!r}): it needs cluster.worker "
            "(a list of host:port) and task.type/task.index."
        ) from None
    if kind not in ("chief", "worker") or not isinstance(workers, list):
        raise ConfigError(f"TF_CONFIG task.type must be chief or worker, got {kind!r}.")
    return spec


def _multi_worker():
    import tensorflow as tf

    spec = cluster_spec()
    kind, index = spec["task"]["type"], int(spec["task"]["index"])
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    is_chief = kind == "chief" or (kind == "worker" and index == 0 and "chief" not in spec["cluster"])
    return Distribution("multi-worker", strategy.num_replicas_in_sync, strategy, worker_index=index, is_chief=is_chief)


def _data_parallel(replicas):
    import keras

    devices = keras.distribution.list_devices()
    replicas = replicas or len(devices)
    if replicas > len(devices):
        raise ConfigError(
            f"--replicas {replicas}: JAX sees {len(devices)} device(s). On a CPU-only machine, "
            f"start the process with XLA_FLAGS={HOST_DEVICES_FLAG}={replicas} "
            "(kapps sets it when --replicas is on its command line)."
        )
    distribution = keras.distribution.DataParallel(devices=devices[:replicas])
    return Distribution("data-parallel", replicas, distribution)


def _batches_cut_to_multiple(dataset, multiple):
    import tensorflow as tf

    def size(*batch):
        return tf.shape(tf.nest.flatten(batch)[0])[0]

    def cut(*batch):
        keep = size(*batch) // multiple * multiple
        cut_batch = tf.nest.map_structure(lambda tensor: tensor[:keep], batch)
        return cut_batch if len(cut_batch) > 1 else cut_batch[0]

    return dataset.map(cut).filter(lambda *batch: size(*batch) > 0)


def predict_batch(model, inputs):
    """`model.predict_on_batch(inputs)`, right under a tf.distribute strategy too: there Keras
    (3.15) gives every replica the whole batch and concatenates their answers, so training-time
    code (whole-split metrics, stacking) predicts through `predict`, which splits the batch."""
    strategy = getattr(model, "distribute_strategy", None)  # TensorFlow models only
    if strategy is not None and strategy.num_replicas_in_sync > 1:
        import keras

        count = len(keras.tree.flatten(inputs)[0])
        return model.predict(inputs, batch_size=count, verbose=0)
    return model.predict_on_batch(inputs)


def _build_from_one_replica_batch():
    """Keras 3.15 builds a model under a tf.distribute strategy from its first batch averaged
    over the replicas (`strategy.reduce` in `TensorFlowTrainer._maybe_symbolic_build`): that
    fails under MultiWorkerMirroredStrategy ("Attempt to convert a value (PerReplica...)") and
    for a batch the replicas share unevenly. The build needs only shapes and dtypes, so this
    takes them from one replica's part of the batch instead."""
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    if getattr(TensorFlowTrainer._maybe_symbolic_build, "one_replica_batch", False):
        return
    import tensorflow as tf

    def build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(
                    lambda value: (
                        self.distribute_strategy.experimental_local_results(value)[0]
                        if isinstance(value, tf.distribute.DistributedValues)
                        else value
                    ),
                    next(batches),
                )
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    build.one_replica_batch = True
    TensorFlowTrainer._maybe_symbolic_build = build


def _average_scalar_logs_over_workers():
    """Keras 3.15 averages each step's logs over a MultiWorkerMirroredStrategy along axis 0,
    which scalars have not ("Invalid reduction dimension 0 for input with 0 dimensions",
    tensorflow/tensorflow#72388): this averages the scalars over the replicas instead."""
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer.reduce_per_replica, "scalar_logs", False):
        return
    import tensorflow as tf

    keras_reduce = trainer.reduce_per_replica

    def reduce(values, strategy, reduction):
        if reduction in ("auto", "mean") and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return tf.nest.map_structure(
                lambda value: (
                    strategy.reduce("MEAN", value, axis=None)
                    if value.shape.rank == 0
                    else keras_reduce(value, strategy, reduction)
                ),
                values,
            )
        return keras_reduce(values, strategy, reduction)

    reduce.scalar_logs = True
    trainer.reduce_per_replica = reduce
