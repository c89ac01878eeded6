import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
django_application = get_wsgi_application()


def _with_fast_paths(app):  # type: ignore[no-untyped-def]
    # Imported after Django is set up: device manifest polls are answered from their files before
    # Django's middleware (thongtincoso/radio/fastpath.py); everything else goes to Django.
    from thongtincoso.radio.fastpath import ManifestFastPath

    return ManifestFastPath(app)


application = _with_fast_paths(django_application)
