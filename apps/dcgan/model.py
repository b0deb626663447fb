"""The DCGAN networks (Radford et al., 2016) and the `GAN` model that trains them.

Guidelines followed: no pooling, strided convolutions in the discriminator and strided
transposed convolutions in the generator; batch normalisation in both, except on the
generator's output and the discriminator's input; ReLU in the generator, tanh on its output;
LeakyReLU(0.2) in the discriminator; weights drawn from N(0, 0.02); Adam with beta_1 = 0.5.
Sizes follow `image_size` and `channels`: the generator starts at `image_size / 2**k` pixels
(the largest k leaving at least 4) and doubles the size k times.

`GAN.train_step` trains both networks with their own optimizers on TensorFlow (`GradientTape`),
JAX (`stateless_call` / `stateless_apply`) and PyTorch (autograd): the discriminator steps on a
batch of real and generated images, then the generator steps against the updated
discriminator, on the same generated batch (the generator runs once per step). The losses
are the non-saturating ones of Goodfellow et al.
"""

import keras
from keras import ops

from apps.core.config import ConfigError

GENERATOR = "generator"
DISCRIMINATOR = "discriminator"
# Every generator variable lives in a layer named "generator_..."; MultiOptimizer maps them
# to the generator's Adam, everything else trainable to the discriminator's.
GENERATOR_VARIABLES = GENERATOR + "_.*"
BN_MOMENTUM = 0.9
LEAKY_SLOPE = 0.2
KERNEL_SIZE = 4
MIN_START_SIZE = 4


def upsampling_stages(image_size):
    """How many times the generator doubles its start size to reach `image_size`."""
    stages = 0
    while image_size % 2 ** (stages + 1) == 0 and image_size // 2 ** (stages + 1) >= MIN_START_SIZE:
        stages += 1
    return max(stages, 1)


def _init():
    return keras.initializers.RandomNormal(0.0, 0.02)


def _batch_norm(name):
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=name)


def build_generator(config, num_classes):
    """latent `[N, latent_dim]` (and labels `[N]` when conditional) → images in [-1, 1]."""
    stages = upsampling_stages(config.image_size)
    start = config.image_size // 2**stages
    width = config.generator_width * 2 ** (stages - 1)
    latent = keras.Input((config.latent_dim,), name="latent")
    inputs, x = [latent], latent
    if config.conditional:
        labels = keras.Input((), dtype="int32", name="labels")
        inputs.append(labels)
        embedded = keras.layers.Embedding(num_classes, config.latent_dim, name="generator_label_embedding")(labels)
        x = keras.layers.Concatenate(name="generator_latent_and_label")([latent, embedded])
    x = keras.layers.Dense(start * start * width, use_bias=False, kernel_initializer=_init(), name="generator_project")(
        x
    )
    x = _batch_norm("generator_project_bn")(x)
    x = keras.layers.ReLU(name="generator_project_relu")(x)
    x = keras.layers.Reshape((start, start, width), name="generator_reshape")(x)
    for stage in range(1, stages):
        width //= 2
        x = keras.layers.Conv2DTranspose(
            width,
            KERNEL_SIZE,
            strides=2,
            padding="same",
            use_bias=False,
            kernel_initializer=_init(),
            name=f"generator_up{stage}",
        )(x)
        x = _batch_norm(f"generator_up{stage}_bn")(x)
        x = keras.layers.ReLU(name=f"generator_up{stage}_relu")(x)
    images = keras.layers.Conv2DTranspose(
        config.channels,
        KERNEL_SIZE,
        strides=2,
        padding="same",
        activation="tanh",
        kernel_initializer=_init(),
        dtype="float32",
        name="generator_images",
    )(x)
    return keras.Model(inputs if config.conditional else latent, images, name=GENERATOR)


def build_discriminator(config, num_classes):
    """images (and labels `[N]` when conditional) → one logit each: real (> 0) or generated.
    The conditional discriminator adds a projection of its features onto the label's
    embedding (Miyato & Koyama, 2018)."""
    stages = upsampling_stages(config.image_size)
    images = keras.Input((config.image_size, config.image_size, config.channels), name="images")
    x = images
    for stage in range(stages):
        x = keras.layers.Conv2D(
            config.discriminator_width * 2**stage,
            KERNEL_SIZE,
            strides=2,
            padding="same",
            use_bias=stage == 0,
            kernel_initializer=_init(),
            name=f"discriminator_down{stage}",
        )(x)
        if stage:
            x = _batch_norm(f"discriminator_down{stage}_bn")(x)
        x = keras.layers.LeakyReLU(LEAKY_SLOPE, name=f"discriminator_down{stage}_lrelu")(x)
    features = keras.layers.Flatten(name="discriminator_flatten")(x)
    logits = keras.layers.Dense(1, kernel_initializer=_init(), dtype="float32", name="discriminator_logit")(features)
    if not config.conditional:
        return keras.Model(images, logits, name=DISCRIMINATOR)
    labels = keras.Input((), dtype="int32", name="labels")
    embedded = keras.layers.Embedding(
        num_classes, features.shape[-1], embeddings_initializer=_init(), name="discriminator_label_embedding"
    )(labels)
    projection = keras.layers.Dot(axes=1, name="discriminator_projection")([embedded, features])
    logits = keras.layers.Add(name="discriminator_conditional_logit")([logits, projection])
    return keras.Model([images, labels], logits, name=DISCRIMINATOR)


def gan_optimizer(config):
    """One `MultiOptimizer` holding the generator's and the discriminator's Adam (so every
    backend's trainer saves, restores and carries both states)."""
    generator = keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1, name="generator_adam")
    discriminator = keras.optimizers.Adam(
        config.discriminator_learning_rate, beta_1=config.beta_1, name="discriminator_adam"
    )
    return keras.optimizers.MultiOptimizer(
        keras.optimizers.OptimizerMap(discriminator, {GENERATOR_VARIABLES: generator}), name="gan_optimizers"
    )


def logistic_loss(logits, target):
    """Mean binary cross-entropy of `logits` against the constant `target`, computed stably."""
    logits = ops.cast(logits, "float32")
    return ops.mean(ops.relu(logits) - logits * target + ops.log1p(ops.exp(-ops.abs(logits))))


def _select(values, variables, wanted):
    """The entries of `values` (one per variable of `variables`) for the variables `wanted`."""
    position = {id(variable): index for index, variable in enumerate(variables)}
    return [values[position[id(variable)]] for variable in wanted]


def _replace(values, variables, wanted, new_values):
    """`values` with the entries of the variables `wanted` replaced by `new_values`."""
    position = {id(variable): index for index, variable in enumerate(variables)}
    values = list(values)
    for variable, value in zip(wanted, new_values):
        values[position[id(variable)]] = value
    return values


@keras.saving.register_keras_serializable(package="kapps_dcgan")
class GAN(keras.Model):
    """A generator, a discriminator and the frozen classifier whose features FID uses.

    Calling the model generates: `model({"latent": z, "labels": y})` → images in [-1, 1]
    (labels are read only by a conditional generator; without `latent`, one image per label
    from new noise). The fixed noise of the sample grids is a weight (`fixed_latent`), so
    checkpoints and resumed runs keep it. The training noise comes from a seed generator
    (`noise_seeds`), whose state Keras does not save: a resumed run draws a new stream.

    Args:
        generator: `build_generator`'s model.
        discriminator: `build_discriminator`'s model.
        classifier: a model `images → [features, class probabilities]` (`apps.dcgan.fid`).
        latent_dim: size of the noise vectors.
        num_classes: classes of the data (rows of a conditional sample grid).
        conditional: whether the generator and discriminator take labels.
        sample_images: rows of `fixed_latent`.
        label_smoothing: one-sided label smoothing of the discriminator's real targets.
        seed: seeds `fixed_latent` and the training noise.
        generator_ema: momentum of the moving average of the generator's weights (0: none).
        ema_generator: the network holding that average (a clone of `generator` when not given);
            with `generator_ema`, it is the one that generates (grids, FID, serving).
    """

    def __init__(
        self,
        generator,
        discriminator,
        classifier,
        latent_dim,
        num_classes,
        conditional=False,
        sample_images=64,
        label_smoothing=0.0,
        seed=0,
        generator_ema=0.0,
        ema_generator=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.generator = generator
        self.generator_ema = float(generator_ema)
        if self.generator_ema and ema_generator is None:
            ema_generator = _averaged_copy(generator)
        self.ema_generator = ema_generator if self.generator_ema else None
        if self.ema_generator is not None:
            self.ema_generator.trainable = False
        self.discriminator = discriminator
        self.classifier = classifier
        self.classifier.trainable = False
        self.latent_dim = int(latent_dim)
        self.num_classes = int(num_classes)
        self.conditional = bool(conditional)
        self.sample_images = int(sample_images)
        self.label_smoothing = float(label_smoothing)
        self.seed = int(seed)
        self.fixed_latent = self.add_weight(
            shape=(self.sample_images, self.latent_dim),
            trainable=False,
            name="fixed_latent",
            initializer=keras.initializers.RandomNormal(stddev=1.0, seed=self.seed),
        )
        self.noise_seeds = keras.random.SeedGenerator(self.seed, name="noise_seeds")
        self.discriminator_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.generator_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.built = True

    # ----- generating ----------------------------------------------------------------
    def _generator_inputs(self, inputs):
        if self.conditional:
            return [inputs["latent"], ops.cast(inputs["labels"], "int32")]
        return inputs["latent"]

    def draw_latent(self, count):
        """`count` new noise vectors (advances `noise_seeds`)."""
        return keras.random.normal((count, self.latent_dim), seed=self.noise_seeds)

    @property
    def sampler(self):
        """The network that generates: the moving average of the generator when there is one."""
        return self.generator if self.ema_generator is None else self.ema_generator

    def call(self, inputs, training=False):
        if "latent" not in inputs:
            inputs = {**inputs, "latent": self.draw_latent(ops.shape(inputs["labels"])[0])}
        return self.sampler(self._generator_inputs(inputs), training=training)

    def fixed_labels(self):
        """The labels of the sample grid: with `conditional`, one row per class."""
        columns = -(-self.sample_images // self.num_classes)
        return ops.convert_to_tensor(
            [index // columns % self.num_classes for index in range(self.sample_images)], dtype="int32"
        )

    def fixed_samples(self):
        """The sample grid's images (in [-1, 1]), from the fixed noise."""
        return self({"latent": self.fixed_latent, "labels": self.fixed_labels()}, training=False)

    # ----- training ------------------------------------------------------------------
    @property
    def metrics(self):
        return [self.discriminator_loss_tracker, self.generator_loss_tracker]

    def _optimizer(self, name):
        return {optimizer.name: optimizer for optimizer in self.optimizer.optimizers}[f"{name}_adam"]

    @property
    def generator_optimizer(self):
        return self._optimizer(GENERATOR)

    @property
    def discriminator_optimizer(self):
        return self._optimizer(DISCRIMINATOR)

    def _discriminator_inputs(self, images, inputs):
        if self.conditional:
            return [images, ops.cast(inputs["labels"], "int32")]
        return images

    def _ema_decay(self, steps):
        """The average's momentum after `steps` generator steps: ramped up from 0.1 (as
        `tf.train.ExponentialMovingAverage` with `num_updates`) so early epochs are not
        dominated by the random initial weights."""
        steps = ops.cast(steps, "float32")
        return ops.minimum(self.generator_ema, (1.0 + steps) / (10.0 + steps))

    def _averaged(self, averages, values, steps):
        """The moving averages `averages` moved towards `values` by one step."""
        decay = self._ema_decay(steps)
        return [
            average - (1.0 - decay) * (average - ops.cast(value, average.dtype))
            for average, value in zip(averages, values)
        ]

    def _update_average(self):
        """One step of the generator's moving average (TensorFlow and PyTorch)."""
        if self.ema_generator is None:
            return
        averages = self.ema_generator.weights
        new = self._averaged(
            [average.value for average in averages],
            [v.value for v in self.generator.weights],
            self.generator_optimizer.iterations,
        )
        for average, value in zip(averages, new):
            average.assign(value)

    def _discriminator_loss(self, real_logits, fake_logits):
        return logistic_loss(real_logits, 1.0 - self.label_smoothing) + logistic_loss(fake_logits, 0.0)

    def train_step(self, *args):
        """One step of both networks; `(state, data)` on JAX, `data` elsewhere."""
        backend = keras.backend.backend()
        if backend == "jax":
            return self._jax_train_step(*args)
        if backend == "torch":
            return self._torch_train_step(*args)
        return self._tensorflow_train_step(*args)

    def _losses_logged(self, discriminator_loss, generator_loss):
        self.discriminator_loss_tracker.update_state(discriminator_loss)
        self.generator_loss_tracker.update_state(generator_loss)
        return {metric.name: metric.result() for metric in self.metrics}

    def _tensorflow_train_step(self, data):
        import tensorflow as tf

        inputs, real, _ = keras.utils.unpack_x_y_sample_weight(data)
        inputs = {**inputs, "latent": self.draw_latent(tf.shape(real)[0])}
        discriminator_variables = self.discriminator.trainable_variables
        generator_variables = self.generator.trainable_variables
        with tf.GradientTape() as generator_tape:
            fake = self.generator(self._generator_inputs(inputs), training=True)
            with generator_tape.stop_recording(), tf.GradientTape() as discriminator_tape:
                real_logits = self.discriminator(self._discriminator_inputs(real, inputs), training=True)
                fake_logits = self.discriminator(
                    self._discriminator_inputs(tf.stop_gradient(fake), inputs), training=True
                )
                discriminator_loss = self._discriminator_loss(real_logits, fake_logits)
            with generator_tape.stop_recording():
                gradients = discriminator_tape.gradient(discriminator_loss, discriminator_variables)
                self.discriminator_optimizer.apply(gradients, discriminator_variables)
            generator_loss = logistic_loss(
                self.discriminator(self._discriminator_inputs(fake, inputs), training=True), 1.0
            )
        gradients = generator_tape.gradient(generator_loss, generator_variables)
        self.generator_optimizer.apply(gradients, generator_variables)
        self._update_average()
        return self._losses_logged(discriminator_loss, generator_loss)

    def _torch_train_step(self, data):
        import torch

        inputs, real, _ = keras.utils.unpack_x_y_sample_weight(data)
        inputs = {**inputs, "latent": self.draw_latent(real.shape[0])}
        discriminator_variables = self.discriminator.trainable_variables
        generator_variables = self.generator.trainable_variables
        fake = self.generator(self._generator_inputs(inputs), training=True)
        real_logits = self.discriminator(self._discriminator_inputs(real, inputs), training=True)
        fake_logits = self.discriminator(self._discriminator_inputs(fake.detach(), inputs), training=True)
        discriminator_loss = self._discriminator_loss(real_logits, fake_logits)
        gradients = torch.autograd.grad(discriminator_loss, [v.value for v in discriminator_variables])
        with torch.no_grad():
            self.discriminator_optimizer.apply(list(gradients), discriminator_variables)
        generator_loss = logistic_loss(self.discriminator(self._discriminator_inputs(fake, inputs), training=True), 1.0)
        gradients = torch.autograd.grad(generator_loss, [v.value for v in generator_variables])
        with torch.no_grad():
            self.generator_optimizer.apply(list(gradients), generator_variables)
            self._update_average()
        return self._losses_logged(discriminator_loss.detach(), generator_loss.detach())

    def _jax_train_step(self, state, data):
        import jax

        trainable, non_trainable, optimizer_values, metric_values = state
        inputs, real, _ = keras.utils.unpack_x_y_sample_weight(data)
        model_trainable, model_non_trainable = self.trainable_variables, self.non_trainable_variables
        seeds = [self.noise_seeds.state]
        seed_values = _select(non_trainable, model_non_trainable, seeds)
        with keras.StatelessScope(state_mapping=list(zip(seeds, seed_values))) as scope:
            inputs = {**inputs, "latent": self.draw_latent(real.shape[0])}
        non_trainable = _replace(non_trainable, model_non_trainable, seeds, [scope.get_current_value(seeds[0])])
        generator, discriminator = self.generator, self.discriminator
        generator_values = _select(trainable, model_trainable, generator.trainable_variables)
        generator_state = _select(non_trainable, model_non_trainable, generator.non_trainable_variables)
        discriminator_values = _select(trainable, model_trainable, discriminator.trainable_variables)
        discriminator_state = _select(non_trainable, model_non_trainable, discriminator.non_trainable_variables)

        def generate(values):
            fake, new_state = generator.stateless_call(
                values, generator_state, self._generator_inputs(inputs), training=True
            )
            return fake, new_state

        fake, generator_vjp, generator_state = jax.vjp(generate, generator_values, has_aux=True)

        def discriminator_loss_fn(values, state_values):
            real_logits, state_values = discriminator.stateless_call(
                values, state_values, self._discriminator_inputs(real, inputs), training=True
            )
            fake_logits, state_values = discriminator.stateless_call(
                values, state_values, self._discriminator_inputs(jax.lax.stop_gradient(fake), inputs), training=True
            )
            return self._discriminator_loss(real_logits, fake_logits), state_values

        (discriminator_loss, discriminator_state), gradients = jax.value_and_grad(discriminator_loss_fn, has_aux=True)(
            discriminator_values, discriminator_state
        )
        optimizer_variables = self.optimizer.variables
        d_optimizer = self.discriminator_optimizer
        d_optimizer_values = _select(optimizer_values, optimizer_variables, d_optimizer.variables)
        discriminator_values, d_optimizer_values = d_optimizer.stateless_apply(
            d_optimizer_values, gradients, discriminator_values
        )

        def generator_loss_fn(images, state_values):
            logits, state_values = discriminator.stateless_call(
                discriminator_values, state_values, self._discriminator_inputs(images, inputs), training=True
            )
            return logistic_loss(logits, 1.0), state_values

        (generator_loss, discriminator_state), image_gradients = jax.value_and_grad(generator_loss_fn, has_aux=True)(
            fake, discriminator_state
        )
        (gradients,) = generator_vjp(image_gradients)
        g_optimizer = self.generator_optimizer
        g_optimizer_values = _select(optimizer_values, optimizer_variables, g_optimizer.variables)
        generator_values, g_optimizer_values = g_optimizer.stateless_apply(
            g_optimizer_values, gradients, generator_values
        )

        trainable = _replace(trainable, model_trainable, generator.trainable_variables, generator_values)
        trainable = _replace(trainable, model_trainable, discriminator.trainable_variables, discriminator_values)
        non_trainable = _replace(non_trainable, model_non_trainable, generator.non_trainable_variables, generator_state)
        non_trainable = _replace(
            non_trainable, model_non_trainable, discriminator.non_trainable_variables, discriminator_state
        )
        optimizer_values = _replace(optimizer_values, optimizer_variables, d_optimizer.variables, d_optimizer_values)
        optimizer_values = _replace(optimizer_values, optimizer_variables, g_optimizer.variables, g_optimizer_values)
        if self.ema_generator is not None:
            steps = _select(g_optimizer_values, g_optimizer.variables, [g_optimizer.iterations])[0]
            current = {id(v): value for v, value in zip(generator.trainable_variables, generator_values)}
            current.update(zip(map(id, generator.non_trainable_variables), generator_state))
            averages = self.ema_generator.weights
            new = self._averaged(
                _select(non_trainable, model_non_trainable, averages),
                [current[id(v)] for v in generator.weights],
                steps,
            )
            non_trainable = _replace(non_trainable, model_non_trainable, averages, new)
        logs, metric_values = self._jax_losses_logged(metric_values, discriminator_loss, generator_loss)
        return logs, (trainable, non_trainable, optimizer_values, metric_values)

    def _jax_losses_logged(self, metric_values, discriminator_loss, generator_loss):
        logs = {}
        for metric, value in (
            (self.discriminator_loss_tracker, discriminator_loss),
            (self.generator_loss_tracker, generator_loss),
        ):
            values = _select(metric_values, self.metrics_variables, metric.variables)
            values = metric.stateless_update_state(values, value)
            logs[metric.name] = metric.stateless_result(values)
            metric_values = _replace(metric_values, self.metrics_variables, metric.variables, values)
        return logs, metric_values

    # ----- saving --------------------------------------------------------------------
    def get_config(self):
        return {
            "name": self.name,
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "classifier": keras.saving.serialize_keras_object(self.classifier),
            "latent_dim": self.latent_dim,
            "num_classes": self.num_classes,
            "conditional": self.conditional,
            "sample_images": self.sample_images,
            "label_smoothing": self.label_smoothing,
            "seed": self.seed,
            "generator_ema": self.generator_ema,
            "ema_generator": None
            if self.ema_generator is None
            else keras.saving.serialize_keras_object(self.ema_generator),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in ("generator", "discriminator", "classifier", "ema_generator"):
            if config.get(name):
                config[name] = keras.saving.deserialize_keras_object(config[name])
        return cls(**config)


def _averaged_copy(generator):
    """A copy of `generator`, weights included, to hold their moving average (its layers keep
    the generator's names: the optimizer only maps trainable variables, and it has none)."""
    copy = keras.models.clone_model(generator)
    copy.set_weights(generator.get_weights())
    return copy


def build_gan(config, num_classes, classifier):
    """The compiled GAN of `config`, measuring FID with the trained `classifier`."""
    if config.conditional and num_classes < 2:
        raise ConfigError(f"--conditional needs labelled data with at least 2 classes; this data has {num_classes}.")
    model = GAN(
        build_generator(config, num_classes),
        build_discriminator(config, num_classes),
        classifier,
        latent_dim=config.latent_dim,
        num_classes=num_classes,
        conditional=config.conditional,
        sample_images=_grid_images(config, num_classes),
        label_smoothing=config.label_smoothing,
        seed=config.seed,
        generator_ema=config.generator_ema,
        name="dcgan",
    )
    return compile_gan(model, config)


def compile_gan(model, config):
    """Compiles `model` with `gan_optimizer(config)`, built on its variables (every trainer
    expects a built `MultiOptimizer`)."""
    model.compile(optimizer=gan_optimizer(config))
    model.optimizer.build(model.trainable_variables)
    return model


def _grid_images(config, num_classes):
    """`sample_images`, rounded up to whole rows of one class each when conditional."""
    if not config.conditional:
        return config.sample_images
    columns = -(-config.sample_images // num_classes)
    return columns * num_classes
