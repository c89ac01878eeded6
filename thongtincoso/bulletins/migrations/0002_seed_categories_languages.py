"""Seed the content categories of essential information (Nghị định 49/2024) and the languages.

Both lists are data, editable afterwards; this runs once and never overwrites edits.
"""

from django.db import migrations

from thongtincoso.bulletins.seed import seed_lists


def seed(apps, schema_editor):
    seed_lists(apps.get_model("bulletins", "Category"), apps.get_model("bulletins", "Language"))


class Migration(migrations.Migration):
    dependencies = [("bulletins", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
