from django.urls import path, re_path

from accounts import api

urlpatterns = [
    path("api/accounts/", api.AccountListOpenApi.as_view(), name="api-accounts"),
    path("api/accounts/<int:account_id>/", api.AccountDetailApi.as_view(), name="api-account"),
    path("api/accounts/<int:account_id>/parties/", api.AccountPartyApi.as_view(), name="api-account-parties"),
    re_path(
        r"^api/accounts/(?P<account_id>[0-9]+)/(?P<action>close|suspend|reinstate)/$",
        api.AccountStatusApi.as_view(),
        name="api-account-status",
    ),
    path("api/premises/", api.PremiseListCreateApi.as_view(), name="api-premises"),
    path("api/premises/<int:premise_id>/", api.PremiseDetailApi.as_view(), name="api-premise"),
    path("api/bills/", api.BillListCreateApi.as_view(), name="api-bills"),
    path("api/payments/", api.PaymentListCreateApi.as_view(), name="api-payments"),
]
