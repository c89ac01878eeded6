"""Answer.published_text: the public answer, kept while a reopened feedback's new one is drafted."""

from django.db import migrations, models
from django.db.models import F


def copy_published(apps, schema_editor):
    Answer = apps.get_model("feedback", "Answer")
    Answer.objects.filter(state="published").update(published_text=F("text"))


class Migration(migrations.Migration):
    dependencies = [
        ("feedback", "0002_seed_categories"),
    ]

    operations = [
        migrations.AddField(
            model_name="answer",
            name="published_text",
            field=models.TextField(blank=True, verbose_name="published answer"),
        ),
        migrations.RunPython(copy_published, migrations.RunPython.noop),
    ]
