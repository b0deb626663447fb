"""`assets.extra/tf_serving_warmup_requests`: writing it at export, replaying it at load.

The file is a TFRecord of `tensorflow.serving.PredictionLog` records, as TF
Serving reads it (at most 1000 records, each replayed once).
"""

from pathlib import Path

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000


def warmup_path(version_dir):
    return Path(version_dir) / WARMUP_DIR / WARMUP_FILE


def prediction_log(model_name, sample_request):
    """A `PredictionLog` holding a PredictRequest for an app's `SampleRequest`."""
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = sample_request.signature_name
    for name, value in sample_request.inputs.items():
        array = np.asarray(value)
        if array.dtype.kind in ("U", "S"):
            array = np.array(
                [item.encode() if isinstance(item, str) else item for item in array.ravel()], dtype=object
            ).reshape(array.shape)
        request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
    return prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))


def write_warmup_requests(version_dir, model_name, sample_requests):
    """Writes the warm-up file for `sample_requests`; returns its path (None if none)."""
    import tensorflow as tf

    sample_requests = list(sample_requests)[:MAX_WARMUP_RECORDS]
    if not sample_requests:
        return None
    path = warmup_path(version_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for sample in sample_requests:
            writer.write(prediction_log(model_name, sample).SerializeToString())
    return path


def read_warmup_logs(version_dir):
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = warmup_path(version_dir)
    if not path.exists():
        return []
    logs = []
    for record in tf.data.TFRecordDataset(str(path)).take(MAX_WARMUP_RECORDS + 1):
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record.numpy())
        logs.append(log)
    if len(logs) > MAX_WARMUP_RECORDS:
        raise ValueError(f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS})")
    return logs


def run_warmup(entry, version_dir):
    """Replays the warm-up records on a freshly loaded version; returns how many ran."""
    from serving import inference

    count = 0
    for log in read_warmup_logs(version_dir):
        kind = log.WhichOneof("log_type")
        if kind == "predict_log":
            request = log.predict_log.request
            signature = inference.find_signature(entry, request.model_spec.signature_name)
            inputs = inference.arrays_from_tensor_protos(request.inputs, entry, request.model_spec.signature_name)
            inference.predict(entry, signature, inputs, tuple(request.output_filter))
        elif kind == "classify_log":
            request = log.classify_log.request
            inference.classify(entry, request.model_spec.signature_name, inference.examples_from_input(request.input))
        elif kind == "regress_log":
            request = log.regress_log.request
            inference.regress(entry, request.model_spec.signature_name, inference.examples_from_input(request.input))
        else:
            raise ValueError(f"Unsupported log_type for warmup: {kind}")
        count += 1
    return count
