from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from members.admin_site import has_staff_role
from members.models import Member


@login_required
def home(request):
    """Staff with a role go to the admin; members to their portal; anyone else is told why not."""
    if has_staff_role(request.user):
        return redirect("admin:index")
    if Member.objects.filter(user_id=request.user.pk).exists():
        return redirect("portal:home")
    return render(request, "members/home.html")
