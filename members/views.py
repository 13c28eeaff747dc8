from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from members.admin_site import has_staff_role


@login_required
def home(request):
    """Staff with a role go to the admin; everyone else to the member portal page."""
    if has_staff_role(request.user):
        return redirect("admin:index")
    return render(request, "members/home.html")
