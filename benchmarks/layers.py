"""Benchmark: `layers.MultiHeadSelfAttention` vs `keras.layers.MultiHeadAttention`.

Times one forward + backward pass (gradients w.r.t. the layer weights and
the input) of self-attention on the same shapes for

* `keras`   - `keras.layers.MultiHeadAttention` called as `mha(x, x)`,
* `fused`   - `MultiHeadSelfAttention(fused_attention=True)` (fused QKV
              projection and `keras.ops.dot_product_attention`; the
              default on PyTorch),
* `einsum`  - `MultiHeadSelfAttention(fused_attention=False)` (explicit
              einsum / softmax path, the one used for scores or dropout).

Each is compiled the way its backend normally runs training steps
(`tf.function`, `jax.jit`, eager PyTorch). Usage::

    KERAS_BACKEND=jax python benchmarks/layers.py
    python benchmarks/layers.py --backend torch --repeats 5 --warmup 2

Default shapes: batch 32, length 256, 4 heads, model dim 128 (key_dim 32).
"""

import argparse
import os
import statistics
import sys
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backend", choices=["tensorflow", "jax", "torch"], help="Keras backend (default: $KERAS_BACKEND)"
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=10, help="timed steps per variant (median is reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per variant (compilation)")
    parser.add_argument("--causal", action="store_true", help="use a causal mask in every variant")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds over the variants")
    return parser.parse_args(argv)


def make_step(backend, layer, call):
    """Returns a function running one forward+backward pass on `x`."""
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(tf.square(call(x)))
            return tape.gradient(loss, [x] + layer.trainable_variables)

        return lambda x: [g.numpy() for g in step(x)[:1]]
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss_fn(weights, x):
            out, _ = layer.stateless_call(weights, non_trainable, x, **call.kwargs)
            return jnp.sum(jnp.square(out))

        grad = jax.jit(jax.grad(loss_fn, argnums=(0, 1)))
        return lambda x: jax.block_until_ready(grad(trainable, x))
    import torch

    def step(x):
        for v in layer.trainable_variables:
            v.value.grad = None
        x = x.detach().requires_grad_(True)
        loss = torch.sum(torch.square(call(x)))
        loss.backward()
        return x.grad

    return step


class Call:
    """A picklable-ish callable holding the layer call and its kwargs."""

    def __init__(self, fn, **kwargs):
        self.fn, self.kwargs = fn, kwargs

    def __call__(self, x):
        return self.fn(x, **self.kwargs)


def build_variants(args, keras, MultiHeadSelfAttention):
    key_dim = args.dim // args.heads
    mha = keras.layers.MultiHeadAttention(args.heads, key_dim)

    class SelfMHA(keras.layers.Layer):
        """`mha(x, x)` as a single-input layer (for stateless_call)."""

        def __init__(self, inner, **kwargs):
            super().__init__(**kwargs)
            self.inner = inner

        def call(self, x, use_causal_mask=False):
            return self.inner(x, x, use_causal_mask=use_causal_mask)

    keras_layer = SelfMHA(mha)
    fused = MultiHeadSelfAttention(args.heads, key_dim, use_causal_mask=args.causal, fused_attention=True)
    einsum = MultiHeadSelfAttention(args.heads, key_dim, use_causal_mask=args.causal, fused_attention=False)
    keras_kwargs = {"use_causal_mask": True} if args.causal else {}
    return {
        "keras": (keras_layer, Call(keras_layer, **keras_kwargs)),
        "fused": (fused, Call(fused)),
        "einsum": (einsum, Call(einsum)),
    }


def time_step(step, x, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step(x)
        times.append(time.perf_counter() - start)
    return times


def main(argv=None):
    args = parse_args(argv)
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
    import keras
    import numpy as np

    from layers import MultiHeadSelfAttention

    backend = keras.backend.backend()
    keras.utils.set_random_seed(0)
    x_np = np.random.default_rng(0).normal(size=(args.batch, args.length, args.dim)).astype("float32")
    x = keras.ops.convert_to_tensor(x_np)
    variants = build_variants(args, keras, MultiHeadSelfAttention)
    steps = {}
    for name, (layer, call) in variants.items():
        call(x)  # build
        steps[name] = make_step(backend, layer, call)
        time_step(steps[name], x, args.warmup)
    samples = {name: [] for name in steps}
    for _ in range(args.rounds):  # interleave to share machine noise
        for name, step in steps.items():
            samples[name] += time_step(step, x, args.repeats)
    base = statistics.median(samples["keras"])
    print(
        f"backend={backend} batch={args.batch} length={args.length} "
        f"heads={args.heads} dim={args.dim} causal={args.causal} "
        f"steps={args.rounds * args.repeats}"
    )
    print(f"{'variant':<8} {'median ms':>10} {'min ms':>8} {'vs keras':>9}")
    for name, times in samples.items():
        median = statistics.median(times)
        print(f"{name:<8} {median * 1e3:>10.2f} {min(times) * 1e3:>8.2f} {median / base:>8.2f}x")


if __name__ == "__main__":
    main()
