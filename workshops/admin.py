"""Staff see every room; the token's digest is neither shown nor editable."""

from django.contrib import admin
from django.db.models import Count

from .models import Workshop


@admin.register(Workshop)
class WorkshopAdmin(admin.ModelAdmin):
    list_display = ("code", "title", "state", "language", "seats", "max_participants", "created_at", "closed_at")
    list_filter = ("state", "language")
    search_fields = ("code", "title")
    exclude = ("token_digest",)
    readonly_fields = ("code", "created_at", "closed_at", "summary")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(seats=Count("participants"))

    @admin.display(ordering="seats", description="participants")
    def seats(self, room) -> int:
        return room.seats
