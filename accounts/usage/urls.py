from django.urls import path

from accounts.usage import api

app_name = "usage"

urlpatterns = [
    path("api/usage/ingest/", api.IngestApi.as_view(), name="ingest"),
    path("api/usage/batches/<int:batch_id>/", api.BatchDetailApi.as_view(), name="batch"),
    path("api/usage/point-mappings/", api.UsagePointMappingListApi.as_view(), name="point-mappings"),
    path(
        "api/usage/point-mappings/<int:mapping_id>/",
        api.UsagePointMappingDetailApi.as_view(),
        name="point-mapping",
    ),
    path("api/usage/accounts/<int:account_id>/", api.AccountUsageApi.as_view(), name="account"),
    path(
        "api/usage/accounts/<int:account_id>/intervals.csv",
        api.AccountIntervalsCsvApi.as_view(),
        name="account-intervals",
    ),
    path(
        "api/usage/accounts/<int:account_id>/greenbutton.xml",
        api.AccountGreenButtonApi.as_view(),
        name="account-greenbutton",
    ),
]
