from django.urls import path

from members import api, find

urlpatterns = [
    path("staff/find/", find.member_find, name="member-find"),
    path("api/members/", api.MemberListCreateApi.as_view(), name="api-members"),
    path("api/members/search/", api.MemberSearchApi.as_view(), name="api-members-search"),
    path("api/members/<int:member_id>/", api.MemberDetailApi.as_view(), name="api-member"),
    path("api/members/<int:member_id>/reveal/", api.MemberRevealApi.as_view(), name="api-member-reveal"),
]
