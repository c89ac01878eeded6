"""Feedback's web addresses: the public side (no login) and the staff side, one namespace."""

from thongtincoso.feedback.public_urls import urlpatterns as public_patterns
from thongtincoso.feedback.staff_urls import urlpatterns as staff_patterns

app_name = "feedback"

urlpatterns = [*public_patterns, *staff_patterns]
