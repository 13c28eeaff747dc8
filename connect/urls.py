from django.urls import path
from oauth2_provider import views as oauth_views

from connect import espi_api, views

app_name = "connect"

R = "espi/1_1/resource/"
UP = R + "Subscription/<int:subscription_id>/UsagePoint/<str:usage_point_id>/"
CA = R + "RetailCustomer/<int:subscription_id>/Customer/1/CustomerAccount/"

urlpatterns = [
    # The authorization endpoint is the member's consent screen, in the portal (portal/urls.py).
    path("oauth/token/", oauth_views.TokenView.as_view(), name="token"),
    path("oauth/revoke_token/", oauth_views.RevokeTokenView.as_view(), name="revoke"),
    path("connect/apply/", views.third_party_apply_page, name="apply"),
    path(R + "ApplicationInformation/<int:application_id>", espi_api.application_information),
    path(R + "Authorization", espi_api.authorization),
    path(R + "Authorization/<int:authorization_id>", espi_api.authorization),
    path(R + "Batch/Subscription/<int:subscription_id>", espi_api.batch_subscription, name="batch"),
    path(R + "Subscription/<int:subscription_id>/UsagePoint", espi_api.usage_points),
    path(R + "Subscription/<int:subscription_id>/UsagePoint/<str:usage_point_id>", espi_api.usage_point),
    path(UP + "MeterReading", espi_api.meter_readings),
    path(UP + "MeterReading/<int:meter_reading_id>", espi_api.meter_reading),
    path(UP + "MeterReading/<int:meter_reading_id>/IntervalBlock", espi_api.interval_blocks),
    path(UP + "MeterReading/<int:meter_reading_id>/IntervalBlock/<str:block_id>", espi_api.interval_block),
    path(R + "ReadingType/<str:reading_type_id>", espi_api.reading_type),
    path(R + "Batch/RetailCustomer/<int:subscription_id>", espi_api.batch_retail_customer, name="batch_customer"),
    path(R + "RetailCustomer/<int:subscription_id>/Customer/1", espi_api.retail_customer),
    path(CA + "<str:account_id>", espi_api.customer_account),
    path(CA + "<str:account_id>/CustomerAgreement/<str:agreement_id>", espi_api.customer_agreement),
    path(
        CA + "<str:account_id>/CustomerAgreement/<str:agreement_id>/ServiceLocation/<str:location_id>",
        espi_api.service_location,
    ),
    path(R + "LocalTimeParameters", espi_api.local_time_parameters),
    path(R + "LocalTimeParameters/<int:parameters_id>", espi_api.local_time_parameters),
]
