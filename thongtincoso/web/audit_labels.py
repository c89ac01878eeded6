"""Readable names of audit actions, for the audit log and the dashboard's recent changes.

Audit records store a stable code ("units.zone.retire"); people read the label. Every code
written anywhere in the code base must be listed here: `web/tests/test_audit_labels.py` greps the
sources and fails on a missing one. The code stays visible next to the label, because the audit
filter searches by code.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

AUDIT_ACTION_LABELS: dict[str, Promise] = {
    # Sessions
    "accounts.session.login": _("Logged in"),
    "accounts.session.logout": _("Logged out"),
    "accounts.session.login_failed": _("Failed login"),
    # Accounts
    "accounts.user.create": _("Account created"),
    "accounts.user.update": _("Account changed"),
    "accounts.user.set_password": _("Password set"),
    "accounts.totp.enrol": _("Two-factor authentication turned on"),
    # Roles
    "accounts.role.assign": _("Role assigned"),
    "accounts.role.assign_denied": _("Role assignment refused"),
    "accounts.role.revoke_denied": _("Role removal refused"),
    "accounts.role.revoke": _("Role removed"),
    # API tokens
    "accounts.token.create": _("API token created"),
    "accounts.token.revoke": _("API token revoked"),
    # Unit tree
    "units.tree.load": _("Official unit list loaded"),
    "units.tree.reload": _("Official unit list reload started"),
    "units.unit.update": _("Unit details changed"),
    "units.zone.create": _("Zone added"),
    "units.zone.retire": _("Zone retired"),
    # Bulletins
    "bulletins.bulletin.create": _("Bulletin created"),
    "bulletins.bulletin.update": _("Bulletin edited"),
    "bulletins.bulletin.autosave": _("Bulletin autosaved"),
    "bulletins.bulletin.submit": _("Bulletin submitted for approval"),
    "bulletins.bulletin.recall": _("Bulletin recalled by its author"),
    "bulletins.bulletin.approve": _("Bulletin approved"),
    "bulletins.bulletin.return": _("Bulletin returned for changes"),
    "bulletins.bulletin.publish": _("Bulletin published"),
    "bulletins.bulletin.withdraw": _("Bulletin withdrawn"),
    "bulletins.bulletin.reopen": _("Bulletin reopened for changes"),
    "bulletins.bulletin.expire": _("Bulletin expired"),
    "bulletins.bulletin.relay": _("Bulletin relayed to communes"),
    "bulletins.attachment.add": _("Attachment added"),
    "bulletins.attachment.remove": _("Attachment removed"),
    "bulletins.delivery.accept": _("Relayed bulletin accepted"),
    "bulletins.delivery.decline": _("Relayed bulletin declined"),
    "bulletins.delivery.adapt": _("Relayed bulletin adapted locally"),
    "bulletins.delivery.reorder": _("Priority items reordered"),
    "bulletins.delivery.scheduled": _("Relayed bulletin scheduled"),
    "bulletins.delivery.aired": _("Relayed bulletin aired"),
    "bulletins.settings.update": _("Editorial rules changed"),
    "bulletins.category.create": _("Category added"),
    "bulletins.category.update": _("Category changed"),
    "bulletins.language.create": _("Language added"),
    "bulletins.language.update": _("Language changed"),
    # Background jobs
    "jobs.job.cancel": _("Background job cancelled"),
    # Speech and audio
    "speech.settings.update": _("Speech settings changed"),
    "speech.abbreviation.add": _("Abbreviation added"),
    "speech.abbreviation.update": _("Abbreviation changed"),
    "speech.abbreviation.remove": _("Abbreviation removed"),
    "speech.audio.render": _("Bulletin audio rendering started"),
    "speech.audio.rendered": _("Bulletin audio rendered"),
    "speech.audio.upload": _("Bulletin audio uploaded"),
    "speech.audio.remove": _("Bulletin audio removed"),
    "speech.jingle.set": _("Jingle set"),
    # Commune radio
    "radio.station.create": _("Radio station opened"),
    "radio.station.update": _("Radio station settings changed"),
    "radio.rules.update": _("Broadcast rules changed"),
    "radio.slot.create": _("Broadcast slot added"),
    "radio.slot.update": _("Broadcast slot changed"),
    "radio.slot.delete": _("Broadcast slot removed"),
    "radio.queue.reorder": _("Broadcast queue reordered"),
    "radio.emergency.start": _("Emergency broadcast started"),
    "radio.emergency.confirm": _("Emergency broadcast confirmed"),
    "radio.emergency.cancel": _("Emergency broadcast cancelled"),
    "radio.emergency.stop": _("Emergency broadcast stopped"),
    "radio.emergency.finish": _("Emergency broadcast finished"),
    "radio.device.create": _("Device registered"),
    "radio.device.update": _("Device changed"),
    "radio.device.enrolment_issue": _("Device enrolment code issued"),
    "radio.device.enrol": _("Device enrolled"),
    "radio.device.credential_rotate": _("Device credential rotated"),
    "radio.device.revoke": _("Device revoked"),
    "radio.device.offline_alert": _("Device offline alert sent"),
    "radio.command.send": _("Device command sent"),
    "radio.command.ack": _("Device command acknowledged"),
    "radio.command.expire": _("Device command expired"),
    # Citizen feedback
    "feedback.feedback.create": _("Feedback received"),
    "feedback.feedback.accept": _("Feedback accepted"),
    "feedback.feedback.start": _("Work on feedback started"),
    "feedback.feedback.assign": _("Feedback handler assigned"),
    "feedback.feedback.transfer": _("Feedback transferred to another unit"),
    "feedback.feedback.reject": _("Feedback rejected as out of scope"),
    "feedback.feedback.close": _("Feedback closed"),
    "feedback.feedback.reopen": _("Feedback reopened by the sender"),
    "feedback.feedback.merge": _("Feedback merged as a duplicate"),
    "feedback.feedback.answer_submit": _("Feedback answer submitted for approval"),
    "feedback.feedback.answer_return": _("Feedback answer returned for changes"),
    "feedback.feedback.answer_publish": _("Feedback answer published"),
    "feedback.feedback.bulletin": _("Bulletin draft made from a feedback answer"),
    "feedback.feedback.redact_text": _("Feedback text redacted"),
    "feedback.feedback.redact_photo": _("Feedback photo redacted"),
    "feedback.feedback.purge_personal_data": _("Feedback sender's personal data purged"),
    "feedback.answer.save": _("Feedback answer saved"),
    "feedback.contact.view": _("Feedback sender's contact details viewed"),
    "feedback.contact.email": _("Feedback sender e-mailed (receipt or answer)"),
    "feedback.photo.view": _("Feedback photo viewed"),
    "feedback.contact.export": _("Feedback data exported for the sender"),
    "feedback.route.create": _("Feedback routing rule added"),
    "feedback.route.update": _("Feedback routing rule changed"),
    "feedback.route.delete": _("Feedback routing rule removed"),
    "feedback.settings.update": _("Feedback settings changed"),
    "feedback.open311_key.create": _("Open311 application key created"),
    "feedback.open311_key.revoke": _("Open311 application key revoked"),
    "feedback.holiday.create": _("Holiday added"),
    "feedback.holiday.update": _("Holiday changed"),
    "feedback.holiday.delete": _("Holiday removed"),
}


def action_label(code: str) -> str:
    """The label of an audit action in the current language; the code itself when unknown."""
    label = AUDIT_ACTION_LABELS.get(code)
    return str(label) if label is not None else code
