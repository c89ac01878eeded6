"""Radio pages: stations and their week, the waiting queue, slots, emergencies, devices, reports,
and the e-board kiosk.

Thin: forms check shapes, the services (slots, devices, credentials, emergencies, fleet, proof)
decide and audit. An object the user may not see answers 404 exactly like a missing one; a
service's refusal is shown on the form, never as a server error.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from thongtincoso.accounts import policy
from thongtincoso.accounts.roles import Action
from thongtincoso.core.errors import NotFoundError, PermissionDeniedError, ServiceError
from thongtincoso.units import selectors as unit_selectors
from thongtincoso.units.models import Unit, UnitKind
from thongtincoso.web.shortcuts import form_error, scoped_unit

from .forms import (
    BroadcastRulesForm,
    CommandForm,
    DeviceFilterForm,
    DeviceForm,
    EmergencyForm,
    QueueMoveForm,
    ReasonForm,
    ReportForm,
    SlotForm,
    StationForm,
    parse_order,
)
from .models import (
    BroadcastRules,
    Device,
    DeviceCommand,
    Emergency,
    EmergencyState,
    Filler,
    PlayEvent,
    Slot,
    Station,
)

KIOSK_ROTATE_SECONDS = 15
MANIFEST_PATH = "/api/device/v1/manifest"
LIVE_STATES = (EmergencyState.AWAITING_CONFIRMATION, EmergencyState.ACTIVE)


def _service_message(exc: ServiceError) -> str:
    return str(exc.message)


# --- Lookups: everything out of scope is a 404 ---------------------------------------------------


def _commune(request: HttpRequest, code: str) -> Unit:
    unit = scoped_unit(request, code)
    if unit.kind != UnitKind.COMMUNE:
        raise Http404
    return unit


def _station(request: HttpRequest, code: str) -> Station:
    from . import slots

    commune = _commune(request, code)
    station = slots.station_for(commune, create=False)
    if station is None:
        # A commune without its station row yet: the operator's first visit makes it.
        if not policy.may(request.user, Action.BROADCAST, commune):
            raise Http404
        station = slots.station_for(commune, create=True)
    assert station is not None
    return station


def _device(request: HttpRequest, code: str) -> Device:
    device = (
        policy.restrict(Device.objects.all(), request.user, Action.VIEW)
        .select_related("commune", "zone")
        .filter(code=code)
        .first()
    )
    if device is None:
        raise Http404
    return device


def _emergency(request: HttpRequest, pk: int) -> Emergency:
    emergency = (
        policy.restrict(Emergency.objects.all(), request.user, Action.VIEW)
        .select_related("unit", "created_by", "confirmed_by", "stopped_by")
        .filter(pk=pk)
        .first()
    )
    if emergency is None:
        raise Http404
    return emergency


def _visible_emergencies(request: HttpRequest) -> Any:
    return policy.restrict(Emergency.objects.all(), request.user, Action.VIEW).select_related(
        "unit", "created_by"
    )


# --- Index ---------------------------------------------------------------------------------------


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    from . import fleet, selectors

    stations = list(
        selectors.stations_visible(request.user)
        .select_related("unit", "unit__parent")
        .annotate(slot_count=Count("slots", filter=Q(slots__is_active=True)))
    )
    devices = policy.restrict(
        Device.objects.select_related("commune"), request.user, Action.VIEW
    ).filter(commune__in=[s.unit for s in stations])
    by_commune: dict[int, list[Device]] = {}
    for device in devices:
        by_commune.setdefault(device.commune_id, []).append(device)
    now = timezone.now()
    rows = [
        {"station": s, "fleet": fleet.fleet_summary(by_commune.get(s.unit_id, []), now=now)}
        for s in stations
    ]
    # Communes the user operates whose station has not been opened yet.
    with_station = {s.unit_id for s in stations}
    unopened = [u for u in _communes(request, Action.BROADCAST)[:200] if u.pk not in with_station]
    rule_units = [
        u
        for u in unit_selectors.unit_home_units(request.user, Action.BROADCAST)
        + unit_selectors.unit_home_units(request.user, Action.MANAGE_USERS)
        if u.kind != UnitKind.ZONE
    ]
    return render(
        request,
        "radio/index.html",
        {
            "rows": rows,
            "unopened": unopened,
            "rule_units": list({u.pk: u for u in rule_units}.values()),
            "live": _visible_emergencies(request).filter(state__in=LIVE_STATES),
            "may_broadcast": policy.may_anywhere(request.user, Action.BROADCAST),
            "may_devices": policy.may_anywhere(request.user, Action.MANAGE_DEVICES),
        },
    )


# --- A station: calendar, queue, slots, settings ------------------------------------------------


def _week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _calendar_range(request: HttpRequest) -> tuple[str, dt.date, int]:
    view = "day" if request.GET.get("view") == "day" else "week"
    try:
        day = dt.date.fromisoformat(request.GET.get("date", ""))
    except ValueError:
        day = timezone.localdate()
    if view == "day":
        return view, day, 1
    return view, _week_start(day), 7


def _queue_context(request: HttpRequest, station: Station) -> dict[str, Any]:
    from . import selectors

    return {
        "station": station,
        "queue": selectors.station_queue(station),
        "may_broadcast": policy.may(request.user, Action.BROADCAST, station),
    }


def _station_page(request: HttpRequest, station: Station, status: int = 200, **forms: Any) -> Any:
    from . import selectors, slots

    view, start, days = _calendar_range(request)
    step = dt.timedelta(days=days)
    unit = station.unit
    rules = slots.broadcast_rules_for(unit)
    may_broadcast = policy.may(request.user, Action.BROADCAST, station)
    may_rules = _may_rules(request, unit)
    return render(
        request,
        "radio/station.html",
        {
            **_queue_context(request, station),
            "unit": unit,
            "view": view,
            "start": start,
            "today": timezone.localdate(),
            "prev": start - step,
            "next": start + step,
            "calendar": selectors.station_calendar(station, start, days),
            "slots": station.slots.all(),
            "rules": rules,
            "rules_inherited": rules.pk is not None and rules.unit_id != unit.pk,
            "may_broadcast": may_broadcast,
            "may_rules": may_rules,
            "slot_form": forms.get("slot_form") or SlotForm(),
            "station_form": forms.get("station_form")
            or StationForm(initial=StationForm.initial_for(station)),
            "rules_form": forms.get("rules_form") or BroadcastRulesForm(instance=rules),
        },
        status=status,
    )


def _show_warnings(request: HttpRequest, result: Any) -> None:
    """Slot services answer the slot and the rules it bends (warnings, not refusals)."""
    warnings = result[1] if isinstance(result, tuple) and len(result) > 1 else []
    for warning in warnings or []:
        messages.warning(request, str(warning))


@login_required
@require_GET
def station_detail(request: HttpRequest, code: str) -> HttpResponse:
    return _station_page(request, _station(request, code))


@login_required
@require_POST
def station_settings(request: HttpRequest, code: str) -> HttpResponse:
    from . import slots

    station = _station(request, code)
    form = StationForm(request.POST, request.FILES)
    if form.is_valid():
        fields = dict(form.cleaned_data)
        upload = fields.pop("filler_file", None)
        actor = policy.acting_user(request)
        try:
            # One change: the new filler and the other settings are saved together or not at all.
            with transaction.atomic():
                if upload is not None:
                    station = slots.station_filler_upload(
                        actor=actor, station=station, stream=upload, name=upload.name
                    )
                    fields["filler"] = Filler.AUDIO  # uploading a filler means using it
                slots.station_update(actor=actor, station=station, **fields)
        except NotFoundError as exc:
            raise Http404 from exc
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Station settings saved."))
            return redirect(reverse("radio:station", args=[code]) + "#settings")
    return _station_page(request, station, status=400, station_form=form)


@login_required
@require_POST
def station_rules(request: HttpRequest, code: str) -> HttpResponse:
    from . import slots

    station = _station(request, code)
    form = BroadcastRulesForm(request.POST, instance=BroadcastRules())
    if form.is_valid():
        try:
            slots.broadcast_rules_update(
                actor=policy.acting_user(request), unit=station.unit, **form.cleaned_data
            )
        except NotFoundError as exc:
            raise Http404 from exc
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Broadcast rules saved."))
            return redirect(reverse("radio:station", args=[code]) + "#rules")
    return _station_page(request, station, status=400, rules_form=form)


def _rules_page(request: HttpRequest, unit: Unit, status: int = 200, form: Any = None) -> Any:
    from . import slots

    rules = slots.broadcast_rules_for(unit)
    return render(
        request,
        "radio/rules.html",
        {
            "unit": unit,
            "rules": rules,
            "rules_inherited": rules.pk is not None and rules.unit_id != unit.pk,
            "may_rules": _may_rules(request, unit),
            "rules_form": form or BroadcastRulesForm(instance=rules),
        },
        status=status,
    )


def _may_rules(request: HttpRequest, unit: Unit) -> bool:
    return any(policy.may(request.user, a, unit) for a in (Action.MANAGE_USERS, Action.BROADCAST))


@login_required
def unit_rules(request: HttpRequest, code: str) -> HttpResponse:
    """A province's (or any unit's) broadcast rules, which the units below inherit."""
    from . import slots

    unit = scoped_unit(request, code)
    if unit.kind == UnitKind.ZONE:
        raise Http404
    if request.method != "POST":
        return _rules_page(request, unit)
    form = BroadcastRulesForm(request.POST, instance=BroadcastRules())
    if form.is_valid():
        try:
            slots.broadcast_rules_update(
                actor=policy.acting_user(request), unit=unit, **form.cleaned_data
            )
        except NotFoundError as exc:
            raise Http404 from exc
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Broadcast rules saved."))
            return redirect("radio:unit_rules", code=unit.code)
    return _rules_page(request, unit, status=400, form=form)


def _queue_answer(request: HttpRequest, station: Station, status: int = 200) -> HttpResponse:
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "radio/_queue.html", _queue_context(request, station), status=status)
    return redirect(reverse("radio:station", args=[station.unit.code]) + "#queue")


def _reorder(request: HttpRequest, station: Station, order: list[int]) -> HttpResponse:
    from . import slots

    try:
        slots.queue_reorder(actor=policy.acting_user(request), station=station, bulletin_ids=order)
    except NotFoundError as exc:
        raise Http404 from exc
    except ServiceError as exc:
        if not request.htmx:  # type: ignore[attr-defined]
            messages.error(request, _service_message(exc))
        return _queue_answer(
            request, station, status=403 if isinstance(exc, PermissionDeniedError) else 400
        )
    if not request.htmx:  # type: ignore[attr-defined]
        messages.success(request, _("Queue order saved."))
    return _queue_answer(request, station)


@login_required
@require_POST
def queue_reorder(request: HttpRequest, code: str) -> HttpResponse:
    """The new order of the waiting bulletins (ids), from drag and drop."""
    station = _station(request, code)
    order = parse_order(request.POST.getlist("order"))
    if order is None:
        if not request.htmx:  # type: ignore[attr-defined]
            messages.error(request, _("The new order could not be read; reload the page."))
        return _queue_answer(request, station, status=400)
    return _reorder(request, station, order)


def _queue_ids(station: Station) -> list[int]:
    from . import selectors

    return [entry["bulletin"].pk for entry in selectors.station_queue(station)["waiting"]]


@login_required
@require_POST
def queue_move(request: HttpRequest, code: str) -> HttpResponse:
    """Up/down buttons (no JavaScript needed): swap one bulletin with its neighbour."""
    station = _station(request, code)
    form = QueueMoveForm(request.POST)
    order = _queue_ids(station)
    if not form.is_valid() or form.cleaned_data["bulletin"] not in order:
        messages.error(request, _("This item is no longer waiting; reload the page."))
        return _queue_answer(request, station, status=400)
    i = order.index(form.cleaned_data["bulletin"])
    j = i - 1 if form.cleaned_data["direction"] == "up" else i + 1
    if 0 <= j < len(order):
        order[i], order[j] = order[j], order[i]
    return _reorder(request, station, order)


@login_required
@require_POST
def slot_create(request: HttpRequest, code: str) -> HttpResponse:
    from . import slots

    station = _station(request, code)
    form = SlotForm(request.POST)
    if form.is_valid():
        try:
            result = slots.slot_create(
                actor=policy.acting_user(request), station=station, **form.service_fields()
            )
        except NotFoundError as exc:
            raise Http404 from exc
        except ServiceError as exc:
            form_error(form, exc)
        else:
            _show_warnings(request, result)
            messages.success(request, _("Slot added."))
            return redirect(reverse("radio:station", args=[code]) + "#slots")
    return _station_page(request, station, status=400, slot_form=form)


def _slot(station: Station, slot_id: int) -> Slot:
    slot = station.slots.filter(pk=slot_id).first()
    if slot is None:
        raise Http404
    return slot


@login_required
def slot_edit(request: HttpRequest, code: str, slot_id: int) -> HttpResponse:
    from . import slots

    station = _station(request, code)
    slot = _slot(station, slot_id)
    status = 200
    if request.method == "POST":
        form = SlotForm(request.POST, editing=True)
        if form.is_valid():
            try:
                result = slots.slot_update(
                    actor=policy.acting_user(request), slot=slot, **form.service_fields()
                )
            except NotFoundError as exc:
                raise Http404 from exc
            except ServiceError as exc:
                form_error(form, exc)
            else:
                _show_warnings(request, result)
                messages.success(request, _("Slot saved."))
                return redirect(reverse("radio:station", args=[code]) + "#slots")
        status = 400
    else:
        form = SlotForm(initial=SlotForm.initial_for(slot), editing=True)
    return render(
        request,
        "radio/slot_form.html",
        {
            "station": station,
            "unit": station.unit,
            "slot": slot,
            "form": form,
            "may_broadcast": policy.may(request.user, Action.BROADCAST, station),
        },
        status=status,
    )


@login_required
@require_POST
def slot_delete(request: HttpRequest, code: str, slot_id: int) -> HttpResponse:
    from . import slots

    station = _station(request, code)
    slot = _slot(station, slot_id)
    try:
        slots.slot_delete(actor=policy.acting_user(request), slot=slot)
    except NotFoundError as exc:
        raise Http404 from exc
    except ServiceError as exc:
        messages.error(request, _service_message(exc))
    else:
        messages.success(request, _("Slot removed."))
    return redirect(reverse("radio:station", args=[code]) + "#slots")


# --- Emergencies ---------------------------------------------------------------------------------


@login_required
@require_GET
def emergency_list(request: HttpRequest) -> HttpResponse:
    emergencies = _visible_emergencies(request)[:100]
    return render(
        request,
        "radio/emergencies.html",
        {
            "emergencies": emergencies,
            "may_broadcast": policy.may_anywhere(request.user, Action.BROADCAST),
        },
    )


def _target_choices(request: HttpRequest) -> list[tuple[str, str]]:
    """Provinces, communes and zones the user may broadcast to, in tree order."""
    units = (
        policy.restrict(Unit.objects.current(), request.user, Action.BROADCAST)
        .filter(kind__in=[UnitKind.PROVINCE, UnitKind.COMMUNE, UnitKind.ZONE])
        .order_by("path")
    )
    labels: dict[str, str] = {
        UnitKind.PROVINCE: _("%(name)s (the whole province)"),
        UnitKind.COMMUNE: "%(name)s",
        UnitKind.ZONE: "— %(name)s",
    }
    return [(u.code, labels[u.kind] % {"name": u.name}) for u in units[:500]]


def _bulletin_choices(request: HttpRequest) -> list[tuple[int, str]]:
    """Published emergency bulletins the user sees, or that were relayed to their communes."""
    from thongtincoso.bulletins.models import Bulletin, Priority, Status

    visible = policy.restrict(Bulletin.objects.all(), request.user, Action.VIEW).values("pk")
    communes = _communes(request, Action.BROADCAST)
    rows = (
        Bulletin.objects.filter(status=Status.PUBLISHED, priority=Priority.EMERGENCY)
        .filter(Q(pk__in=visible) | Q(deliveries__commune__in=communes))
        .distinct()
        .order_by("-id")[:50]
    )
    return [(b.pk, b.title) for b in rows]


def _requesting_unit(request: HttpRequest, targets: list[Unit]) -> Unit | None:
    """The emergency's own unit: the deepest unit above the zone level that holds every target
    and where the user may broadcast (a commune for its zones, a province for its communes)."""
    if not targets:
        return None
    common = set.intersection(*({a.pk for a in t.ancestors(include_self=True)} for t in targets))
    candidates = Unit.objects.filter(pk__in=common).exclude(kind=UnitKind.ZONE).order_by("-depth")
    for unit in candidates:
        if policy.may(request.user, Action.BROADCAST, unit):
            return unit
    return None


def _emergency_form(request: HttpRequest, data: Any = None, files: Any = None) -> EmergencyForm:
    return EmergencyForm(
        data,
        files,
        target_choices=_target_choices(request),
        bulletin_choices=_bulletin_choices(request),
    )


@login_required
def emergency_new(request: HttpRequest) -> HttpResponse:
    from . import emergencies

    if not policy.may_anywhere(request.user, Action.BROADCAST):
        raise Http404
    if request.method != "POST":
        return render(request, "radio/emergency_new.html", {"form": _emergency_form(request)})
    form = _emergency_form(request, request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        targets = list(Unit.objects.current().filter(code__in=data["targets"]))
        bulletin = None
        if data["source"] == "bulletin":
            from thongtincoso.bulletins.models import Bulletin

            bulletin = Bulletin.objects.filter(pk=data["bulletin"]).first()
        upload = data.get("audio") if data["source"] == "recording" else None
        unit = _requesting_unit(request, targets)
        try:
            if unit is None:
                raise ServiceError(
                    _("You may not broadcast to all of these places together."), field="targets"
                )
            emergency = emergencies.emergency_start(
                actor=policy.acting_user(request),
                unit=unit,
                targets=targets,
                title=data["title"],
                source=data["source"],
                text=data.get("text") or "",
                audio=upload,
                bulletin=bulletin,
                repeat_count=data["repeat_count"],
                interval_seconds=data["interval_seconds"],
            )
        except ServiceError as exc:
            # A target out of scope (NotFoundError) belongs on the form too: it names a choice.
            form_error(form, exc)
        else:
            if emergency.state == EmergencyState.AWAITING_CONFIRMATION:
                messages.warning(
                    request, _("A second person must confirm this emergency before it airs.")
                )
            else:
                messages.success(request, _("The emergency broadcast is on air."))
            return redirect("radio:emergency", pk=emergency.pk)
    return render(request, "radio/emergency_new.html", {"form": form}, status=400)


@login_required
@require_GET
def emergency_detail(request: HttpRequest, pk: int) -> HttpResponse:
    from . import targeting

    emergency = _emergency(request, pk)
    targets = list(emergency.targets.all().order_by("path"))
    devices = list(targeting.devices_in(targets)) if targets else []
    user = request.user
    may_operate = policy.may(user, Action.BROADCAST, emergency)
    return render(
        request,
        "radio/emergency.html",
        {
            "emergency": emergency,
            "targets": targets,
            "devices": devices[:500],
            "device_count": len(devices),
            "may_stop": may_operate and emergency.state == EmergencyState.ACTIVE,
            "may_cancel": may_operate and emergency.state == EmergencyState.AWAITING_CONFIRMATION,
            "may_confirm": may_operate
            and emergency.state == EmergencyState.AWAITING_CONFIRMATION
            and emergency.created_by_id != getattr(user, "pk", None),
            "reason_form": ReasonForm(),
        },
    )


@login_required
@require_POST
def emergency_act(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    from . import emergencies

    actions: dict[str, tuple[Callable[..., Any], str]] = {
        "confirm": (emergencies.emergency_confirm, _("Confirmed: the emergency is on air.")),
        "stop": (emergencies.emergency_stop, _("The emergency broadcast was stopped.")),
        "cancel": (emergencies.emergency_cancel, _("The emergency broadcast was cancelled.")),
    }
    if verb not in actions:
        raise Http404
    emergency = _emergency(request, pk)
    service, done = actions[verb]
    kwargs: dict[str, Any] = {"actor": policy.acting_user(request), "emergency": emergency}
    form = ReasonForm(request.POST)
    if verb in ("stop", "cancel") and form.is_valid() and form.cleaned_data["reason"]:
        kwargs["reason"] = form.cleaned_data["reason"]
    try:
        service(**kwargs)
    except NotFoundError as exc:
        raise Http404 from exc
    except ServiceError as exc:
        messages.error(request, _service_message(exc))
    else:
        messages.success(request, done)
    return redirect("radio:emergency", pk=emergency.pk)


# --- Devices -------------------------------------------------------------------------------------


def _communes(request: HttpRequest, action: str) -> list[Unit]:
    return list(
        policy.restrict(Unit.objects.current(), request.user, action)
        .filter(kind=UnitKind.COMMUNE)
        .order_by("path")[:1000]
    )


@login_required
@require_GET
def device_list(request: HttpRequest) -> HttpResponse:
    from . import fleet

    communes = _communes(request, Action.VIEW)
    form = DeviceFilterForm(
        request.GET or None, communes=[(u.code, f"{u.name} ({u.code})") for u in communes]
    )
    unit, kind, status = None, "", ""
    if form.is_bound and form.is_valid():
        if form.cleaned_data["commune"]:
            unit = next((u for u in communes if u.code == form.cleaned_data["commune"]), None)
        kind, status = form.cleaned_data["kind"], form.cleaned_data["status"]
    fleet_rows = fleet.fleet_rows(policy.acting_user(request), unit, status, kind)
    rows = [{"device": r.device, "status": r.status, "row": r} for r in fleet_rows]
    return render(
        request,
        "radio/devices.html",
        {
            "form": form,
            "rows": rows,
            "map": device_map(rows),
            "may_devices": policy.may_anywhere(request.user, Action.MANAGE_DEVICES),
        },
    )


MAP_WIDTH, MAP_HEIGHT, MAP_PAD, MAP_LABEL = 800, 500, 24, 90


def device_map(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Dots for the devices with coordinates, projected into an SVG box (web/svgmap.py)."""
    from thongtincoso.web.svgmap import Box, project

    placed = [
        r for r in rows if r["device"].latitude is not None and r["device"].longitude is not None
    ]
    box = Box(MAP_WIDTH, MAP_HEIGHT, MAP_PAD, MAP_LABEL)
    points = [(float(r["device"].latitude), float(r["device"].longitude)) for r in placed]
    dots = [
        {"device": row["device"], "status": row["status"], "x": x, "y": y}
        for row, (x, y) in zip(placed, project(points, box), strict=True)
    ]
    return {"dots": dots, "width": MAP_WIDTH, "height": MAP_HEIGHT}


def _device_form(request: HttpRequest, data: Any = None) -> DeviceForm:
    communes = _communes(request, Action.MANAGE_DEVICES)
    zones = (
        Unit.objects.current()
        .filter(kind=UnitKind.ZONE, parent__in=communes)
        .select_related("parent")
        .order_by("path")[:2000]
    )
    return DeviceForm(
        data,
        communes=[(u.code, f"{u.name} ({u.code})") for u in communes],
        zones=[(z.code, f"{z.parent.name if z.parent else ''} › {z.name}") for z in zones],
    )


def _enrolment_page(request: HttpRequest, device: Device, code: str, *, created: bool) -> Any:
    from thongtincoso.web.qr import qr_svg

    return render(
        request,
        "radio/device_enrolment.html",
        {
            "device": device,
            "code": code,
            "qr": qr_svg(code),
            "created": created,
            "command": f"python manage.py device_create --commune {device.commune.code} "
            f"--kind {device.kind} --code {device.code}",
            "enrol_url": request.build_absolute_uri("/api/device/v1/enrol"),
        },
    )


@login_required
def device_new(request: HttpRequest) -> HttpResponse:
    from . import devices

    if not policy.may_anywhere(request.user, Action.MANAGE_DEVICES):
        raise Http404
    if request.method != "POST":
        return render(request, "radio/device_new.html", {"form": _device_form(request)})
    form = _device_form(request, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        commune = Unit.objects.current().filter(code=data["commune"]).first()
        zone = Unit.objects.current().filter(code=data["zone"]).first() if data["zone"] else None
        try:
            device, code = devices.device_create(
                actor=policy.acting_user(request),
                commune=commune,  # type: ignore[arg-type]
                kind=data["kind"],
                code=data["code"],
                zone=zone,
                name=data["name"],
                latitude=data["latitude"],
                longitude=data["longitude"],
                connectivity=data["connectivity"],
                speakers=data["speakers"],
                notes=data["notes"],
            )
        except NotFoundError as exc:
            raise Http404 from exc
        except ServiceError as exc:
            form_error(form, exc)
        else:
            # The code is shown once, on this answer; it is never stored in clear.
            return _enrolment_page(request, device, code, created=True)
    return render(request, "radio/device_new.html", {"form": form}, status=400)


def _device_page(request: HttpRequest, device: Device, status: int = 200, **forms: Any) -> Any:
    from . import fleet

    return render(
        request,
        "radio/device.html",
        {
            "device": device,
            "status": fleet.device_status(
                device, now=timezone.now(), rules=fleet.rules_for(device.commune)
            ),
            "commands": DeviceCommand.objects.filter(device=device).select_related("created_by")[
                :20
            ],
            "events": PlayEvent.objects.filter(device=device)[:30],
            "may_manage": policy.may(request.user, Action.MANAGE_DEVICES, device),
            "command_form": forms.get("command_form") or CommandForm(),
            "reason_form": ReasonForm(),
        },
        status=status,
    )


@login_required
@require_GET
def device_detail(request: HttpRequest, code: str) -> HttpResponse:
    return _device_page(request, _device(request, code))


@login_required
@require_POST
def device_command(request: HttpRequest, code: str) -> HttpResponse:
    from . import fleet

    device = _device(request, code)
    form = CommandForm(request.POST)
    if form.is_valid():
        try:
            fleet.command_send(
                actor=policy.acting_user(request),
                device=device,
                kind=form.cleaned_data["kind"],
                params=form.params(),
            )
        except NotFoundError as exc:
            raise Http404 from exc
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Command sent; the device runs it at its next poll."))
            return redirect(reverse("radio:device", args=[device.code]) + "#commands")
    return _device_page(request, device, status=400, command_form=form)


@login_required
@require_POST
def device_reenrol(request: HttpRequest, code: str) -> HttpResponse:
    from . import credentials

    device = _device(request, code)
    try:
        enrolment_code = credentials.enrolment_issue(
            actor=policy.acting_user(request), device=device
        )
    except NotFoundError as exc:
        raise Http404 from exc
    except ServiceError as exc:
        messages.error(request, _service_message(exc))
        return redirect("radio:device", code=device.code)
    return _enrolment_page(request, device, enrolment_code, created=False)


@login_required
@require_POST
def device_revoke(request: HttpRequest, code: str) -> HttpResponse:
    from . import credentials

    device = _device(request, code)
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        credentials.device_revoke(actor=policy.acting_user(request), device=device, reason=reason)
    except NotFoundError as exc:
        raise Http404 from exc
    except ServiceError as exc:
        messages.error(request, _service_message(exc))
    else:
        messages.success(request, _("The device's credential was revoked."))
    return redirect("radio:device", code=device.code)


# --- Reports -------------------------------------------------------------------------------------


@login_required
@require_GET
def reports(request: HttpRequest) -> HttpResponse:
    from . import proof

    today = timezone.localdate()
    form = ReportForm(request.GET if "date_from" in request.GET else None)
    start, end = today - dt.timedelta(days=30), today
    status = 200
    if form.is_bound:
        if form.is_valid():
            start, end = form.cleaned_data["date_from"], form.cleaned_data["date_to"]
        else:
            status = 400
    else:
        form = ReportForm(initial={"date_from": start, "date_to": end})
    if request.GET.get("format") == "csv" and status == 200:
        return _report_csv(request, start, end)
    rows = proof.station_report(_report_stations(request), *_report_window(start, end))
    return render(
        request,
        "radio/reports.html",
        {
            "form": form,
            "rows": rows,
            "start": start,
            "end": end,
            "chart": report_chart(rows),
            "csv_query": f"date_from={start.isoformat()}&date_to={end.isoformat()}&format=csv",
        },
        status=status,
    )


def _report_stations(request: HttpRequest) -> Any:
    from . import selectors

    return selectors.stations_visible(request.user).select_related("unit")


def _report_window(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Local midnight of the first day to local midnight after the last day."""
    zone = timezone.get_current_timezone()
    return (
        dt.datetime.combine(start, dt.time(), tzinfo=zone),
        dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=zone),
    )


def _report_csv(request: HttpRequest, start: dt.date, end: dt.date) -> HttpResponse:
    from . import proof

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in proof.report_csv_rows(_report_stations(request), *_report_window(start, end)):
        writer.writerow(row)
    # A byte-order mark, so Excel reads the file as UTF-8 and shows Vietnamese correctly.
    response = HttpResponse("\ufeff" + buffer.getvalue(), content_type="text/csv; charset=utf-8")
    name = f"phat-thanh-{start.isoformat()}-{end.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


CHART_WIDTH, CHART_BAR, CHART_LABEL = 720, 22, 200


def report_chart(rows: Any) -> dict[str, Any]:
    """Horizontal bars: requested airtime (grey) and what was played (green), per station."""
    bars = []
    values = []
    for row in rows:
        requested = float(row.get("airtime_requested") or 0)
        played = float(row.get("airtime_played") or 0)
        label = str(row.get("commune") or row.get("station") or "")
        values.append((label, requested, played))
    top = max([max(r, p) for _l, r, p in values] or [0]) or 1.0
    span = CHART_WIDTH - CHART_LABEL - 80
    for i, (label, requested, played) in enumerate(values):
        bars.append(
            {
                "label": label,
                "y": i * (CHART_BAR + 10),
                "requested_w": f"{requested / top * span:.1f}",
                "played_w": f"{played / top * span:.1f}",
                "requested_min": round(requested / 60),
                "played_min": round(played / 60),
                "percent": round(played / requested * 100) if requested else 0,
            }
        )
    return {
        "bars": bars,
        "width": CHART_WIDTH,
        "height": max(1, len(bars)) * (CHART_BAR + 10) + 10,
        "label_w": CHART_LABEL,
        "bar_h": CHART_BAR,
    }


# --- E-board kiosk -------------------------------------------------------------------------------


@require_GET
def kiosk(request: HttpRequest) -> HttpResponse:
    """The e-board's full-screen page. No login: the device credential stays in the URL fragment
    and kiosk.js sends it only to the manifest API, as a Bearer token."""
    try:
        manifest_url = reverse("radio_device:manifest")
    except NoReverseMatch:
        manifest_url = MANIFEST_PATH
    try:
        rotate = max(3, min(300, int(request.GET.get("rotate", KIOSK_ROTATE_SECONDS))))
    except ValueError:
        rotate = KIOSK_ROTATE_SECONDS
    response = render(
        request,
        "radio/kiosk.html",
        {"manifest_url": manifest_url, "rotate_seconds": rotate},
    )
    response["Referrer-Policy"] = "no-referrer"
    return response
