"""The face attack ladder, registered explicitly and in order (the report shows it in this order).

A new rung joins with one line here: ``register("face.<name>", <module>.<Attack subclass>)``
(see :mod:`auditkit.attacks.contract`: constructed with the
:class:`~auditkit.attacks.context.FaceContext`, ``evaluate()`` then ``result()``, an
``AttackResult`` or ``None`` after a note saying why it could not run), or a function
``fn(ctx) -> AttackResult | None``.
"""
from __future__ import annotations

from . import adaptive, face, pixels
from .context import FACE_ATTACKS, register

__all__ = ["FACE_ATTACKS", "face_attack_names"]

register("face.naive", face.NaiveFace)
register("face.parrot", face.ParrotFace)
register("face.pixels", pixels.PixelsFace)
register("face.learned", adaptive.LearnedFace)
register("face.reconstruct", adaptive.ReconstructFace)


def face_attack_names() -> tuple[str, ...]:
    """Names of the registered face attacks, in ladder order."""
    return tuple(FACE_ATTACKS)
