"""Image generation: a deep convolutional GAN (DCGAN) measured by FID and served as PNGs."""
