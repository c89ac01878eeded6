"""Django 5.2 messages that Django's own Vietnamese catalog does not translate yet.

They are listed here only so `makemessages` extracts them into locale/vi, which Django consults
before its own catalogs; nothing imports these names. Remove an entry once Django ships it.
"""

from django.utils.translation import ngettext_lazy

PASSWORD_TOO_SHORT = ngettext_lazy(
    "This password is too short. It must contain at least %d character.",
    "This password is too short. It must contain at least %d characters.",
    "min_length",
)
