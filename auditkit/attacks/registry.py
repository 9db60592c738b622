"""The face attack ladder, registered explicitly and in order (the report shows it in this order).

A new rung joins with one line here: ``register("face.<name>", <module>.<function>)``, where the
function takes a :class:`~auditkit.attacks.context.FaceContext` and returns an ``AttackResult``,
or ``None`` after adding a note saying why it could not run.
"""
from __future__ import annotations

from . import adaptive, face
from .context import FACE_ATTACKS, register

__all__ = ["FACE_ATTACKS", "face_attack_names"]

register("face.naive", face.run_naive)
register("face.parrot", face.run_parrot)
register("face.learned", adaptive.run_learned)
register("face.reconstruct", adaptive.run_reconstruct)


def face_attack_names() -> tuple[str, ...]:
    """Names of the registered face attacks, in ladder order."""
    return tuple(FACE_ATTACKS)
