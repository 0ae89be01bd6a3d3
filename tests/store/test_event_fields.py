"""The store reads every field of the v1 contract: a field added to a model but not to
`loading.EVENT_FIELDS` would pass validation and then be dropped without a word."""

from __future__ import annotations

import typing

from quarterdeck.ingest import models
from quarterdeck.queries.loading import EVENT_FIELDS


def test_every_field_of_every_event_model_is_read_into_the_store() -> None:
    union = typing.get_args(typing.get_args(models.Event)[0])
    assert len(union) == len(models.EVENT_TYPES)
    for model in union:
        missing = set(model.model_fields) - set(EVENT_FIELDS)
        assert not missing, f"{model.__name__}: {sorted(missing)} not in EVENT_FIELDS"
