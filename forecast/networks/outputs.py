"""What a network's head emits per horizon step: the point forecast (:class:`Point`), or what a
distribution family gives as ``output`` (``forecast.probabilistic.families``: monotone quantiles,
a distribution's parameters), with the same three members: ``n_channels`` outputs per step in
the network's normalised frame, ``project`` into the scaled-target frame through the window
normalisation's inverse (affine and increasing per element, ``v * a + b``, ``a > 0``), and
``point``. Channel 0 is always the location in the normalised frame: the recursive head feeds
it back, and the seasonal skip connection adds its base to it.
"""

from __future__ import annotations


def affine(norm, stats, shape, like):
    """(a, b), each ``shape`` (B, H), of the norm's inverse ``v -> v * a + b`` (a > 0)."""
    zero = like.new_zeros(shape)
    b = norm.inverse(zero, stats)
    return norm.inverse(zero + 1.0, stats) - b, b


def broadcast(v, shape):
    """(B, H) or (B, 1) statistics broadcast to ``shape``'s first two dimensions, (B, H, 1)."""
    return v.expand(shape[0], shape[1])[..., None]


class Point:
    n_channels = 1
    kind = "point"

    def project(self, raw, norm, stats):  # raw (B, H, 1) -> (B, H)
        return norm.inverse(raw[..., 0], stats)

    def point(self, out):
        return out
