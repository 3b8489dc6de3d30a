"""Template filters of the workshop pages."""

from django import template
from django.utils.formats import number_format

register = template.Library()


@register.filter
def percent(share) -> str:
    """0.4231 -> "42 %" in French, "42%" in English."""
    if share is None:
        return "–"
    from django.utils.translation import get_language

    value = number_format(round(share * 100))
    return f"{value}\u202f%" if (get_language() or "fr").startswith("fr") else f"{value}%"
