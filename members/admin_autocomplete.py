"""The admin's autocomplete (the staff pickers for a member, a requester, ...) with the access log.

A picker that lists members shows them to the staff member typing, exactly as the member search does, so
it leaves the same ``access.list_members`` row (channel ``admin_autocomplete``, the masked term, the ids
shown). A model admin opts in with ``record_lookup(request, objects, term)``; the others are unchanged."""

from __future__ import annotations

from django.contrib.admin.views.autocomplete import AutocompleteJsonView


class AccessLoggedAutocompleteJsonView(AutocompleteJsonView):
    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        record = getattr(self.model_admin, "record_lookup", None)
        if record is not None:
            record(self.request, list(context["object_list"]), self.term)
        return context
