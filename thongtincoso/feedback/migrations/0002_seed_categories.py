"""Seed the feedback categories (Open311 services). Data, editable afterwards; never overwritten."""

from django.db import migrations

from thongtincoso.feedback.seed import seed_categories


def seed(apps, schema_editor):
    seed_categories(
        apps.get_model("feedback", "Category"), apps.get_model("feedback", "CategoryAttribute")
    )


class Migration(migrations.Migration):
    dependencies = [("feedback", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
