from django.conf import settings
from django.core.management.base import BaseCommand

from arena.catalogue import load_catalogue


class Command(BaseCommand):
    help = "Load the model catalogue (ARENA_CATALOGUE by default); running it again updates in place."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", default=None)

    def handle(self, *args, path=None, **options):
        path = path or settings.ARENA_CATALOGUE
        created, updated = load_catalogue(path)
        self.stdout.write(f"{path}: {created} created, {updated} updated")
