"""A room's rules, apart from HTTP: create, find, join, who runs it, what it lets through.

Each refusal is an `ArenaError` (status, code, message in the visitor's language), so the
arena's API and pages answer it like any other. The arena asks `admit_battle` before it
starts a battle with a workshop code and `check_room_allows` before a vote or a next turn.
"""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from arena.errors import ArenaError
from arena.limits import WINDOW_S, _hit
from arena.models import LLM, Battle, Visitor

from .models import CODE_ALPHABET, CODE_LENGTH, Participant, Workshop, normalize_code


def find(code: str) -> Workshop:
    code = normalize_code(code) if isinstance(code, str) else ""
    # A code outside the alphabet names no room: answered without asking the database
    # (a NUL, say, which PostgreSQL could not even compare).
    valid = len(code) == CODE_LENGTH and all(ch in CODE_ALPHABET for ch in code)
    workshop = Workshop.objects.filter(code=code).first() if valid else None
    if workshop is None:
        raise ArenaError(404, "unknown_workshop", _("No workshop has this code. Check it with your facilitator."))
    return workshop


def as_facilitator(code: str, token: str | None) -> Workshop:
    """The room, for whoever holds its facilitator token; 403 for anyone else."""
    workshop = find(code)
    if not workshop.token_matches(token):
        raise ArenaError(403, "facilitator_only", _("Only the facilitator of this workshop can do this."))
    return workshop


def _closed() -> ArenaError:
    return ArenaError(409, "workshop_closed", _("This workshop is closed: it takes no more battles or votes."))


def check_options(modes: list[str], models: list[str], zone: str) -> None:
    """A new room's options: known modes, enabled models, a zone the footprint knows."""
    import footprint

    unknown = [m for m in modes if m not in Battle.Mode.values]
    if unknown:
        raise ArenaError(400, "unknown_mode", _("Unknown mode: %(mode)s.") % {"mode": unknown[0]})
    if models:
        enabled = set(LLM.objects.filter(enabled=True, slug__in=models).values_list("slug", flat=True))
        missing = [m for m in models if m not in enabled]
        if missing:
            raise ArenaError(400, "invalid_models", _("Unknown model: %(slug)s.") % {"slug": missing[0]})
        if len(enabled) < 2:
            raise ArenaError(400, "invalid_models", _("A workshop needs at least two models to pair them."))
    if zone and zone not in footprint.zone_labels():
        raise ArenaError(400, "unknown_zone", _("Unknown electricity zone: %(zone)s.") % {"zone": zone})


def create(ip_hash: str, **fields) -> tuple[Workshop, str]:
    if not _hit(f"room-create:{ip_hash}", settings.WORKSHOP_CREATES_PER_HOUR_IP, window_s=3600):
        raise ArenaError(
            429, "rate_limited", _("Too many workshops created from your network. Try again later."), retry_after_s=600
        )
    check_options(fields.get("modes") or [], fields.get("model_slugs") or [], fields.get("zone") or "")
    return Workshop.open_new(**fields)


def check_seat(workshop: Workshop, visitor_id: str) -> None:
    """Whether this browser may come in (its seat, or one still free), taking none: the room's
    page is loaded by link previews and crawlers too, which must not fill a room."""
    if workshop.is_closed:
        raise _closed()
    seats = Participant.objects.filter(workshop=workshop)
    if seats.count() >= workshop.max_participants and not seats.filter(visitor_id=visitor_id).exists():
        raise _full(workshop)


def _full(workshop: Workshop) -> ArenaError:
    return ArenaError(
        409,
        "workshop_full",
        _("This workshop is full (%(n)d participants). Ask your facilitator.") % {"n": workshop.max_participants},
    )


def join(workshop: Workshop, visitor_id: str) -> Participant:
    """A seat in the room for this browser (the same one on every visit): taken when its
    person accepted the terms on the room's page (`POST /api/workshops/<code>/join`), or at
    its first battle there."""
    if workshop.is_closed:
        raise _closed()
    visitor, _created = Visitor.objects.get_or_create(pk=visitor_id)
    seat = Participant.objects.filter(workshop=workshop, visitor=visitor).first()
    if seat is not None:
        return seat
    with transaction.atomic():
        # Lock the room so that two people taking the last seat at once cannot both get it.
        Workshop.objects.select_for_update().filter(pk=workshop.pk).first()
        if Participant.objects.filter(workshop=workshop).count() >= workshop.max_participants:
            raise _full(workshop)
        try:
            with transaction.atomic():
                seat = Participant.objects.create(workshop=workshop, visitor=visitor)
        except IntegrityError:  # the same browser joined twice at once
            seat = Participant.objects.get(workshop=workshop, visitor=visitor)
    from .live import room_changed

    room_changed(workshop.code)
    return seat


def admit_battle(code: str, visitor_id: str, mode: str, models: list[str]) -> tuple[Workshop, list[str] | None]:
    """The room a new battle goes to and the models it may use (None: the catalogue), or
    the reason it may not start: unknown, paused or closed room, full room, a mode or a
    model the room does not offer, the room's battle rate."""
    workshop = find(code)
    if workshop.is_closed:
        raise _closed()
    if workshop.state == Workshop.State.PAUSED:
        raise ArenaError(
            409, "workshop_paused", _("The facilitator paused the workshop: wait a moment before a new battle.")
        )
    if workshop.modes and mode not in workshop.modes:
        raise ArenaError(400, "unknown_mode", _("This workshop does not offer this mode."))
    if workshop.model_slugs and any(m not in workshop.model_slugs for m in models):
        raise ArenaError(400, "invalid_models", _("This workshop does not offer this model."))
    join(workshop, visitor_id)
    # Two battles per seat per minute at most: the room's rate replaces its network's.
    if not _hit(f"room:{workshop.code}", min(settings.WORKSHOP_BATTLES_PER_MINUTE, 2 * workshop.max_participants)):
        raise ArenaError(
            429,
            "rate_limited",
            _("The workshop started too many battles in a minute. Please wait a moment."),
            retry_after_s=WINDOW_S,
        )
    return workshop, (workshop.model_slugs or None)


def check_room_allows(code: str | None) -> None:
    """A vote, a next turn or a worth answer in a room: refused once the room is closed.
    Called inside the caller's transaction: the room's row is locked, so a vote either
    commits before the close (and is in the frozen summary) or sees the room closed."""
    if not code:
        return
    # The row is locked whatever its state: a filter on the closed state would lock nothing
    # while the room is open, and on PostgreSQL the vote would not wait for a close under way.
    state = Workshop.objects.select_for_update().filter(code=code).values_list("state", flat=True).first()
    if state == Workshop.State.CLOSED:
        raise _closed()


def set_state(workshop: Workshop, state: str) -> Workshop:
    """Open, pause or close the room. Closing freezes its figures; a closed room stays closed."""
    if state not in Workshop.State.values:
        raise ArenaError(400, "invalid_state", _("state must be one of: open, paused, closed."))
    if workshop.is_closed and state != Workshop.State.CLOSED:
        raise ArenaError(409, "workshop_closed", _("This workshop is closed; it cannot be opened again."))
    if workshop.state == state:
        return workshop
    with transaction.atomic():
        workshop = Workshop.objects.select_for_update().get(pk=workshop.pk)  # votes wait, then see it closed
        workshop.state = state
        fields = ["state"]
        if state == Workshop.State.CLOSED:
            from .stats import room_stats

            workshop.closed_at = timezone.now()
            # Frozen in both languages: the shareable page reads in the reader's language.
            workshop.summary = {code: room_stats(workshop, code) for code, _name in settings.LANGUAGES}
            fields += ["closed_at", "summary"]
        workshop.save(update_fields=fields)
    from .live import room_changed

    room_changed(workshop.code)
    return workshop
