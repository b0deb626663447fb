"""FID math against values known in closed form."""

import numpy as np
import pytest

from apps.dcgan import fid


def test_identical_sets_are_at_distance_zero():
    features = np.random.default_rng(0).standard_normal((500, 8))
    assert fid.fid(features, features) == pytest.approx(0.0, abs=1e-6)


def test_gaussians_with_equal_covariance_differ_by_the_squared_mean_shift():
    covariance = np.diag([1.0, 2.0, 0.5])
    assert fid.frechet_distance(np.zeros(3), covariance, np.array([3.0, 0.0, 4.0]), covariance) == pytest.approx(25.0)


def test_isotropic_gaussians_add_the_squared_difference_of_their_deviations():
    # Tr(a²I + b²I - 2abI) = D (a - b)²
    dims, a, b = 4, 1.0, 3.0
    value = fid.frechet_distance(np.zeros(dims), a**2 * np.eye(dims), np.ones(dims), b**2 * np.eye(dims))
    assert value == pytest.approx(dims * 1.0 + dims * (a - b) ** 2)


def test_sampled_shift_is_measured():
    rng = np.random.default_rng(1)
    features = rng.standard_normal((20_000, 2))
    assert fid.fid(features, features + [2.0, 0.0]) == pytest.approx(4.0, abs=0.01)


def test_singular_covariances_still_give_a_finite_distance():
    features = np.random.default_rng(2).standard_normal((100, 3))
    features[:, 2] = 0.0  # a feature that never fires
    assert np.isfinite(fid.fid(features, features * 1.5))


def test_one_image_is_refused():
    with pytest.raises(ValueError, match="at least 2"):
        fid.fid(np.zeros((1, 4)), np.zeros((5, 4)))


def test_moments_accumulated_batch_by_batch_equal_the_whole_array_ones():
    features = np.random.default_rng(3).gamma(2.0, 3.0, (1001, 6))
    moments = fid.FeatureMoments()
    for start in range(0, len(features), 128):
        moments.update(features[start : start + 128])
    mean, covariance = moments.gaussian()
    np.testing.assert_allclose(mean, features.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(covariance, np.cov(features, rowvar=False), rtol=1e-10)


def test_one_accumulated_image_is_refused():
    moments = fid.FeatureMoments()
    moments.update(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        moments.gaussian()
