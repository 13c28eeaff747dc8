from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from members.demo import DEMO_PASSWORD, demo_logins, seed_all


class Command(BaseCommand):
    help = "Load idempotent demo data (staff logins per role, members, accounts, usage). DEBUG only."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Allow with DEBUG off (never in production).")
        parser.add_argument("--logins", action="store_true", help="Only print the demo logins (loads nothing).")

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["force"]:
            raise CommandError("seed_demo creates logins with a published password; it runs only with DEBUG=true.")
        if not options["logins"]:
            self.stdout.write("Loading demo data (idempotent; the first run takes a few minutes) ...")
            seed_all(progress=lambda line: (self.stdout.write(line), self.stdout.flush()))
        self.stdout.write(f"demo password for every login: {DEMO_PASSWORD}")
        for username, role in demo_logins():
            self.stdout.write(f"  {username:<14} {role}")
