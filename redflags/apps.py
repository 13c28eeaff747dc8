from django.apps import AppConfig


class RedflagsConfig(AppConfig):
    name = "redflags"
