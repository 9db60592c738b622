"""The one attack contract (anonymeter's evaluator shape, statice/anonymeter ``evaluators/*``).

An attack is constructed with its features and keyword-only options, ``evaluate()`` runs it and
returns the attack itself, then ``result()`` gives the :class:`~auditkit.result.AttackResult`
(or ``None`` when the attack could not run on these features; its ``notes`` say why)::

    res = NaiveFace(ctx).evaluate().result()

Asking for the result before evaluating raises :class:`NotEvaluatedError`, which names the call
to make first. An attack never reads files: it is given arrays and feature tables (a
:class:`~auditkit.attacks.context.FaceContext` holds the face encodings and the means to encode
an obfuscated gallery; a table attack holds its data frames).

Registering a face rung (:mod:`auditkit.attacks.registry`) takes either an ``Attack`` subclass
(constructed with the :class:`~auditkit.attacks.context.FaceContext`) or a function
``fn(ctx) -> AttackResult | None``; both are stored as such a function.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Self

from ..result import AttackResult

__all__ = ["Attack", "FunctionAttack", "NotEvaluatedError", "as_function"]


class NotEvaluatedError(RuntimeError):
    """``result()`` was asked for before ``evaluate()``."""


class Attack(ABC):
    """Base class: subclasses set :attr:`name` and implement :meth:`_evaluate`.

    Parameters
    ----------
    features : what the attack works on (a FaceContext, data frames, score matrices ...).
    **options : keyword-only options of the attack.
    """

    #: the attack's name in results.json (``face.naive``, ``linkage.exact``, ...)
    name: str = ""

    def __init__(self, features: Any, /, **options: Any) -> None:
        self.features = features
        self.options = options
        self._evaluated = False
        self._result: AttackResult | None = None

    @abstractmethod
    def _evaluate(self) -> AttackResult | None:
        """Run the attack; ``None`` when it cannot run here (after adding a note saying why)."""

    def evaluate(self) -> Self:
        """Run the attack (once; evaluating again re-runs it) and return ``self``."""
        self._result = self._evaluate()
        self._evaluated = True
        return self

    def result(self) -> AttackResult | None:
        """The attack's result, scored against its baseline; ``None`` when it could not run.

        Raises
        ------
        NotEvaluatedError
            When :meth:`evaluate` has not been called.
        """
        if not self._evaluated:
            raise NotEvaluatedError(f"{type(self).__name__}({self.name!r}): call evaluate() before result()")
        return self._result

    @classmethod
    def run(cls, features: Any, /, **options: Any) -> AttackResult | None:
        """``cls(features, **options).evaluate().result()``."""
        return cls(features, **options).evaluate().result()


class FunctionAttack(Attack):
    """An attack given as a function of its features (``fn(features, **options)``)."""

    def __init__(self, name: str, fn, features: Any, /, **options: Any) -> None:
        super().__init__(features, **options)
        self.name, self._fn = name, fn

    def _evaluate(self) -> AttackResult | None:
        return self._fn(self.features, **self.options)


def as_function(attack: type[Attack] | Any):
    """A registry entry as a function of the features: an Attack subclass becomes ``cls.run``."""
    if isinstance(attack, type) and issubclass(attack, Attack):
        return attack.run
    return attack
