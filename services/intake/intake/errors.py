"""Intake's errors, each mapped to a 4xx at the HTTP edge. Their texts name fields,
rows and columns, never a name or an ID number."""

from __future__ import annotations

from fangpin.service import Conflict, DomainError, Forbidden, NotFound


class HouseholdExists(Conflict):
    """POST of a household that is already registered (use PUT to change it)."""


class PersonInAnotherHousehold(Conflict):
    """A person is reported, never merged: one person belongs to one household."""


class NumberMismatch(DomainError):
    """A household number that names another household than the one addressed."""


class HouseholdNotFound(NotFound):
    """No such household in the caller's area."""


class OutsideArea(Forbidden):
    """The household or grid lies outside the caller's area."""


class NotAllowed(Forbidden):
    """The caller's role may not do this."""


class UnknownRecordKind(NotFound):
    """The department publishes no such record kind."""


class ImportNotFound(NotFound):
    """No such import job, or not one of the caller's."""


class BadFile(DomainError):
    """An uploaded file that cannot be read as the expected table."""

    status_code = 422


class UnsupportedFile(BadFile):
    """Neither XLSX nor CSV."""

    status_code = 415


class UploadNotFound(NotFound):
    """No such department upload, or not one the caller may follow."""


class InconsistentSurvey(DomainError):
    """A survey fact the household's registry entry contradicts."""
