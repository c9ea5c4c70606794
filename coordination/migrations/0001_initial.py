from django.db import migrations, models

import coordination.models


def create_state(apps, schema_editor):
    State = apps.get_model("coordination", "State")
    State.objects.get_or_create(
        pk=1,
        defaults={
            "version": coordination.models.new_version(),
            "namespace": coordination.models.new_namespace(),
        },
    )


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="State",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("version", models.BigIntegerField(default=coordination.models.new_version)),
                ("namespace", models.CharField(default=coordination.models.new_namespace, max_length=32)),
                ("maintenance_until", models.DateTimeField(blank=True, null=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={"verbose_name": "shared state", "verbose_name_plural": "shared state"},
        ),
        migrations.CreateModel(
            name="Lease",
            fields=[
                ("name", models.CharField(max_length=100, primary_key=True, serialize=False)),
                ("due_at", models.DateTimeField()),
                ("holder", models.CharField(blank=True, max_length=100)),
            ],
        ),
        migrations.RunPython(create_state, migrations.RunPython.noop),
    ]
