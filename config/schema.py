"""OpenAPI schema generation for views written in the house style.

Our API views are plain ``APIView`` classes with nested ``InputSerializer`` / ``OutputSerializer``
(HackSoft styleguide), which drf-spectacular cannot guess and would leave out of the schema with a
warning. This schema reads those nested serializers instead; a view without them documents no body.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from rest_framework.generics import GenericAPIView

_WRITE_METHODS = {"POST", "PUT", "PATCH"}


class StyleguideAutoSchema(AutoSchema):
    def _styleguide(self) -> bool:
        return not isinstance(self.view, GenericAPIView)

    def get_request_serializer(self):
        if not self._styleguide():
            return super().get_request_serializer()
        if self.method in _WRITE_METHODS:
            return getattr(self.view, "InputSerializer", None)
        return None

    def get_response_serializers(self):
        if not self._styleguide():
            return super().get_response_serializers()
        output = getattr(self.view, "OutputSerializer", None)
        if output is None:
            return None
        many = self.method == "GET" and getattr(
            self.view, "many", self.view.__class__.__name__.endswith(("ListApi", "ListCreateApi"))
        )
        return output(many=True) if many else output

    def _get_serializer_name(self, serializer, direction, bypass_extensions=False):
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        cls = serializer if isinstance(serializer, type) else type(serializer)
        outer = cls.__qualname__.rsplit(".", 1)[0] if "." in cls.__qualname__ else ""
        # Nested serializers are all called Input/Output; name the component after its view.
        if outer and not name.startswith(outer):
            name = f"{outer}{name}"
        return name
