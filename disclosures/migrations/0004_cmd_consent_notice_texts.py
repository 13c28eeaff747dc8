"""Consent with its evidence (issue 14.5): versioned notice texts, the version each portal consent showed,
and the consent table made append-only (revocation the one guarded change, a pgtrigger).

Portal consents recorded before this migration point at version 1 of the portal notice, which says
honestly that the wording shown then was not kept. Version 2 is the wording the portal shows from now
on; the Privacy Officer adds later versions in the admin. A version used by a consent is frozen by a
plain trigger (UPDATE and DELETE refused to every role).
"""

import hashlib

import django.db.models.deletion
import pgtrigger.compiler
import pgtrigger.migrations
from django.conf import settings
from django.db import migrations, models


PORTAL_V1 = (
    "Recorded before MemberGuard kept the wording of its notices: the words this member saw were not kept."
)
PORTAL_V2 = (
    "I allow {coop} to share my {categories} with {recipient} for this purpose: {purpose}. "
    "This lasts {period}. I can withdraw this consent at any time on the Sharing my data page of the member "
    "portal or by calling member services; nothing more is shared after I withdraw it. Information already "
    "shared stays with {recipient} under its own privacy policy. Imaging and telephone recordings are never "
    "shared on consent."
)
CONNECT_V1 = (
    "I authorize {recipient} to collect my {categories} for {accounts} directly from {coop}, "
    "covering {period}. {recipient} may collect new data {frequency} until {end}. "
    "{recipient} told {coop} it will use the data for: {purpose}. "
    "I can end this authorization at any time on the Connected apps page of the member portal; "
    "{recipient} loses access at once, and the record of what was shared is kept."
)


def first_versions(apps, schema_editor):
    NoticeText = apps.get_model("disclosures", "NoticeText")
    Consent = apps.get_model("disclosures", "Consent")
    v1 = NoticeText.objects.create(kind="portal_consent", version=1, title="Portal consent (wording not kept)", body=PORTAL_V1)
    NoticeText.objects.create(kind="portal_consent", version=2, title="Share my information", body=PORTAL_V2)
    NoticeText.objects.create(
        kind="connect_my_data", version=1, title="Connect my data to an app or service", body=CONNECT_V1
    )
    digest = hashlib.sha256(PORTAL_V1.encode()).hexdigest()
    Consent.objects.filter(channel="portal", notice_text__isnull=True).update(
        notice_text=v1, notice_shown=PORTAL_V1, notice_sha256=digest
    )


class Migration(migrations.Migration):

    dependencies = [
        ('disclosures', '0003_lead_consent_purge_function'),
        ('members', '0010_retention_drop_retain_until'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='NoticeText',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('portal_consent', 'Sharing consent in the member portal'), ('connect_my_data', 'Green Button Connect My Data authorization')], max_length=20)),
                ('version', models.PositiveIntegerField()),
                ('title', models.CharField(max_length=200)),
                ('body', models.TextField(help_text='The exact words shown to the member. Placeholders in braces ({recipient}, {categories}, {period}, {frequency}) are filled in on the screen; the filled-in text is what the consent keeps.')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'ordering': ['kind', '-version'],
            },
        ),
        migrations.AddField(
            model_name='consent',
            name='notice_sha256',
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name='consent',
            name='notice_shown',
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name='noticetext',
            name='created_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='consent',
            name='notice_text',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='consents', to='disclosures.noticetext'),
        ),
        migrations.AddConstraint(
            model_name='noticetext',
            constraint=models.UniqueConstraint(fields=('kind', 'version'), name='notice_text_one_version'),
        ),
        migrations.RunPython(first_versions, migrations.RunPython.noop),
    ]
