from django.contrib import admin

from .models import LLM, Battle, Message, Reaction, Turn, Vote


@admin.register(LLM)
class LLMAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "organization", "license_kind", "params_b", "active_params_b", "enabled")
    list_filter = ("enabled", "license_kind")
    search_fields = ("slug", "name", "organization")


class TurnInline(admin.TabularInline):
    model = Turn
    extra = 0
    readonly_fields = ("index", "prompt", "created_at")


@admin.register(Battle)
class BattleAdmin(admin.ModelAdmin):
    list_display = ("id", "mode", "model_a", "model_b", "created_at", "voted_at", "leak_flagged", "publish_consent")
    list_filter = ("mode", "leak_flagged", "publish_consent")
    inlines = [TurnInline]
    raw_id_fields = ("visitor",)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "side", "status", "completion_tokens", "duration_ms", "created_at")
    list_filter = ("status", "side")
    raw_id_fields = ("turn",)


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ("battle", "choice", "worth_extra_energy", "created_at")
    list_filter = ("choice",)
    raw_id_fields = ("battle",)


@admin.register(Reaction)
class ReactionAdmin(admin.ModelAdmin):
    list_display = ("message", "liked", "updated_at")
    raw_id_fields = ("message",)
