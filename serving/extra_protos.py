"""TF Serving config messages that the `tensorflow-serving-api` wheel does not ship.

`BatchingParameters` (session_bundle_config.proto) and `MonitoringConfig`
(monitoring_config.proto) are declared here with TF Serving's package, names and
field numbers, in a private descriptor pool, so that files written for (and read
by) `tensorflow_model_server` parse with exactly the same schema.
"""

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

_F = descriptor_pb2.FieldDescriptorProto


def _field(name, number, type_, type_name=None, repeated=False):
    field = _F(name=name, number=number, type=type_, label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
    if type_name:
        field.type_name = type_name
    return field


def _build():
    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)

    batching = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/servables/tensorflow/session_bundle_config.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    int64 = ".google.protobuf.Int64Value"
    batching.message_type.add(
        name="BatchingParameters",
        field=[
            _field("max_batch_size", 1, _F.TYPE_MESSAGE, int64),
            _field("batch_timeout_micros", 2, _F.TYPE_MESSAGE, int64),
            _field("max_enqueued_batches", 3, _F.TYPE_MESSAGE, int64),
            _field("num_batch_threads", 4, _F.TYPE_MESSAGE, int64),
            _field("thread_pool_name", 5, _F.TYPE_MESSAGE, ".google.protobuf.StringValue"),
            _field("allowed_batch_sizes", 6, _F.TYPE_INT64, repeated=True),
            _field("pad_variable_length_inputs", 7, _F.TYPE_BOOL),
        ],
    )
    pool.Add(batching)

    monitoring = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/config/monitoring_config.proto", package="tensorflow.serving", syntax="proto3"
    )
    monitoring.message_type.add(
        name="PrometheusConfig", field=[_field("enable", 1, _F.TYPE_BOOL), _field("path", 2, _F.TYPE_STRING)]
    )
    monitoring.message_type.add(
        name="MonitoringConfig",
        field=[_field("prometheus_config", 1, _F.TYPE_MESSAGE, ".tensorflow.serving.PrometheusConfig")],
    )
    pool.Add(monitoring)
    get = lambda name: message_factory.GetMessageClass(pool.FindMessageTypeByName(name))
    return (
        get("tensorflow.serving.BatchingParameters"),
        get("tensorflow.serving.MonitoringConfig"),
        get("tensorflow.serving.PrometheusConfig"),
    )


BatchingParameters, MonitoringConfig, PrometheusConfig = _build()

DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"
