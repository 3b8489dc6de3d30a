"""What the arena tells other apps, so that it never imports them: a battle changed
(started, an answer finished, voted, worth answered). Workshops follow their rooms' battles
through it."""

from django.dispatch import Signal

battle_changed = Signal()  # kwargs: battle
