"""Releases in the admin: whether an export finished, and unpublishing one (untick `published`)."""

from django.contrib import admin

from .models import Release


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "published", "created_at", "finished_at", "path")
    list_filter = ("status", "published")
    readonly_fields = ("name", "path", "status", "created_at", "finished_at", "manifest", "card", "error")
