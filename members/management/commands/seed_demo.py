from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from members.demo import DEMO_PASSWORD, demo_logins, seed_all


class Command(BaseCommand):
    help = "Load idempotent demo data (staff logins per role, members, accounts, usage). DEBUG only."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Allow with DEBUG off (never in production).")

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["force"]:
            raise CommandError("seed_demo creates logins with a published password; it runs only with DEBUG=true.")
        for line in seed_all():
            self.stdout.write(line)
        self.stdout.write(f"demo password for every login: {DEMO_PASSWORD}")
        for username, role in demo_logins():
            self.stdout.write(f"  {username:<14} {role}")
