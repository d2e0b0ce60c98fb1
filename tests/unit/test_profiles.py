"""Sender profiles (``hl7bus/profiles.py``) as the translation sees them: which profile a
sender gets, and what it changes in the events (timezone, patient key, codes, Z-segments,
default charset); and bad profile files refused with the file, the line and the reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hl7bus.errors import ConfigError
from hl7bus.mapping.profiles import DEFAULT_PROFILE, ProfileSet, load_profile, load_profiles
from hl7bus.mapping.router import translate

CR = "\r"


def msg(
    *segments: str,
    app: str = "LAB",
    facility: str = "GENHOSP",
    when: str = "20240115103000",
    kind: str = "ORU^R01",
    msh18: str = "",
) -> bytes:
    msh = f"MSH|^~\\&|{app}|{facility}|BUS|HOSP|{when}||{kind}|C1|P|2.5||||||{msh18}"
    return (CR.join([msh, *segments]) + CR).encode("latin-1")


PID = "PID|1||111^^^HOSP_A^MR~222^^^HOSP_B^PI~333^^^NATIONAL^NI||Doe^Jane||19800101|F"
OBR = "OBR|1|P1|F1|24331-1^Lipid panel^LN|||20240115083000"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def profiles(tmp_path: Path) -> ProfileSet:
    """Four profiles: by application, by facility, by both, and a default for the rest."""
    write(
        tmp_path,
        "lab-any.toml",
        'timezone = "America/New_York"\n[match]\nsending_application = "LAB"\n',
    )
    write(
        tmp_path,
        "genhosp-any.toml",
        'timezone = "Asia/Tokyo"\n[match]\nsending_facility = "GENHOSP"\n',
    )
    write(
        tmp_path,
        "genhosp-lab.toml",
        """name = "genhosp-lab"
timezone = "Europe/Paris"
default_charset = "iso8859-15"

[match]
sending_application = "LAB"
sending_facility = "GENHOSP"

[patient_key]
authority = "HOSP_B"

[z_segments]
"ZPI.3" = "preferred_language"
"ZPI.4.2" = "contact_mode"
"ZXX.1" = "absent_segment"

[codes.observation]
"GLU" = { code = "2345-7", system = "LN", display = "Glucose [Mass/volume] in Serum or Plasma" }
""",
    )
    write(tmp_path, "default.toml", 'timezone = "Australia/Sydney"\n')
    return load_profiles([tmp_path])


def events_of(data: bytes, profiles: ProfileSet):
    translation = translate(data, profiles)
    return translation, translation.events


# --- which profile -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("app", "facility", "expected"),
    [
        ("LAB", "GENHOSP", "genhosp-lab"),  # both match: the most specific wins
        ("LAB", "OTHERHOSP", "lab-any"),  # only the application matches
        ("RIS", "GENHOSP", "genhosp-any"),  # only the facility matches
        ("RIS", "OTHERHOSP", "default"),  # unknown sender: the default profile
    ],
)
def test_the_most_specific_profile_is_picked(profiles: ProfileSet, app, facility, expected) -> None:
    assert profiles.for_sender(app, facility).name == expected
    translation, events = events_of(msg(PID, OBR, app=app, facility=facility), profiles)
    assert translation.profile.name == expected
    assert {e.source.profile for e in events} == {expected}


def test_facility_is_more_specific_than_application(tmp_path: Path) -> None:
    write(tmp_path, "by-app.toml", '[match]\nsending_application = "LAB"\n')
    write(tmp_path, "by-facility.toml", '[match]\nsending_facility = "GENHOSP"\n')
    assert load_profiles([tmp_path]).for_sender("LAB", "GENHOSP").name == "by-facility"


def test_without_profiles_every_sender_gets_the_builtin_default() -> None:
    translation, events = events_of(msg(PID, OBR), ProfileSet())
    assert translation.profile is DEFAULT_PROFILE
    assert events[0].source.profile == "default"
    assert events[0].recorded_at == "2024-01-15T10:30:00+00:00"  # UTC


def test_a_profile_file_may_be_given_alone(tmp_path: Path) -> None:
    path = write(
        tmp_path, "only.toml", 'timezone = "Europe/Paris"\n[match]\nsending_facility = "X"\n'
    )
    loaded = load_profiles([path])
    assert [p.name for p in loaded.profiles] == ["only"]  # name defaults to the file's stem
    assert loaded.default is DEFAULT_PROFILE


# --- timezone --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("20240115103000", "2024-01-15T10:30:00+01:00"),  # Paris in winter: CET
        ("20240715103000", "2024-07-15T10:30:00+02:00"),  # Paris in summer: CEST
        ("20240331013000", "2024-03-31T01:30:00+01:00"),  # just before the spring change
        ("20240331033000", "2024-03-31T03:30:00+02:00"),  # just after it
        ("202401151030", "2024-01-15T10:30+01:00"),  # as precise as sent
        ("20240115103000-0500", "2024-01-15T10:30:00-05:00"),  # an explicit offset is kept
        ("20240115", "2024-01-15"),  # a date has no offset
    ],
)
def test_times_without_offset_are_read_in_the_profile_zone(
    profiles: ProfileSet,
    raw: str,
    expected: str,
) -> None:
    _, events = events_of(msg(PID, OBR, when=raw), profiles)
    assert events[0].recorded_at == expected


def test_each_profile_applies_its_own_zone(profiles: ProfileSet) -> None:
    seen = {}
    for app, facility in [("LAB", "GENHOSP"), ("LAB", "X"), ("RIS", "GENHOSP"), ("RIS", "X")]:
        _, events = events_of(msg(PID, OBR, app=app, facility=facility), profiles)
        seen[events[0].source.profile] = events[0].recorded_at
    assert seen == {
        "genhosp-lab": "2024-01-15T10:30:00+01:00",
        "lab-any": "2024-01-15T10:30:00-05:00",
        "genhosp-any": "2024-01-15T10:30:00+09:00",
        "default": "2024-01-15T10:30:00+11:00",  # Sydney in (southern) summer
    }


def test_the_zone_reaches_clinical_times_too(profiles: ProfileSet) -> None:
    obx = "OBX|1|NM|GLU^Glucose^L||5.4|mmol/L|||||F|||20240715083000"
    _, events = events_of(msg(PID, OBR, obx), profiles)
    event = events[0]
    assert event.occurred_at == "2024-01-15T08:30:00+01:00"  # OBR-7, winter
    assert event.payload.orders[0].observed_at == "2024-01-15T08:30:00+01:00"
    assert event.payload.observations[0].observed_at == "2024-07-15T08:30:00+02:00"  # OBX-14


# --- patient key -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "key"),
    [
        ("", "HOSP_A|111"),  # no rule: the first MR
        ('authority = "HOSP_B"', "HOSP_B|222"),
        ('type = "NI"', "NATIONAL|333"),
        ('authority = "NATIONAL"\ntype = "NI"', "NATIONAL|333"),
        ('authority = "HOSP_A"\ntype = "PI"', "HOSP_A|111"),  # no such identifier: the MR again
    ],
)
def test_the_patient_key_follows_the_profile_rule(tmp_path: Path, rule: str, key: str) -> None:
    write(tmp_path, "default.toml", f"[patient_key]\n{rule}\n")
    _, events = events_of(msg(PID, OBR), load_profiles([tmp_path]))
    assert events[0].patient.key == key
    assert [i.value for i in events[0].patient.identifiers] == ["111", "222", "333"]


def test_without_an_mr_the_first_identifier_keys_the_patient() -> None:
    pid = "PID|1||AAA^^^HOSP_X^PI~BBB^^^HOSP_Y^PI||Doe^Jane"
    _, events = events_of(msg(pid, OBR), ProfileSet())
    assert events[0].patient.key == "HOSP_X|AAA"


def test_merges_key_the_prior_record_by_the_same_rule(tmp_path: Path) -> None:
    write(tmp_path, "default.toml", '[patient_key]\nauthority = "HOSP_B"\n')
    adt = msg("EVN|A40|20240115103000", PID, "MRG|900^^^HOSP_A^MR~901^^^HOSP_B^PI", kind="ADT^A40")
    _, events = events_of(adt, load_profiles([tmp_path]))
    assert events[0].patient.key == "HOSP_B|222"
    assert events[0].payload.merge.prior_patient_key == "HOSP_B|901"


# --- codes, Z-segments, charset ----------------------------------------------------------


def test_local_codes_map_to_standard_ones_and_the_local_code_is_kept(profiles: ProfileSet) -> None:
    obx1 = "OBX|1|NM|GLU^Glucose (local)^L||5.4|mmol/L|3.9-6.1|N|||F"
    obx2 = "OBX|2|NM|K^Potassium^L||4.1|mmol/L|||||F"
    _, events = events_of(msg(PID, OBR, obx1, obx2), profiles)
    glu, k = events[0].payload.observations
    assert (glu.code, glu.code_system, glu.local_code) == ("2345-7", "LN", "GLU")
    assert glu.display == "Glucose [Mass/volume] in Serum or Plasma"
    assert (glu.value, glu.units) == ("5.4", "mmol/L")
    assert (k.code, k.code_system, k.local_code, k.display) == ("K", "L", None, "Potassium")
    # the same local code from another sender is left alone
    _, others = events_of(msg(PID, OBR, obx1, app="RIS"), profiles)
    assert (
        others[0].payload.observations[0].code,
        others[0].payload.observations[0].local_code,
    ) == ("GLU", None)


def test_z_segment_fields_become_extensions(profiles: ProfileSet) -> None:
    zpi = "ZPI|1|x|fr^French|phone^e-mail\\T\\sms"
    _, events = events_of(msg(PID, OBR, zpi), profiles)
    assert events[0].extensions == {"preferred_language": "fr", "contact_mode": "e-mail&sms"}
    _, none = events_of(msg(PID, OBR), profiles)  # no ZPI: no extension, no error
    assert none[0].extensions == {}
    _, others = events_of(msg(PID, OBR, zpi, app="RIS", facility="X"), profiles)
    assert others[0].extensions == {}  # the default profile maps no Z-segment


def test_every_event_of_a_message_carries_the_extensions(profiles: ProfileSet) -> None:
    pid2 = "PID|2||444^^^HOSP_B^PI||Roe^Richard"
    _, events = events_of(msg(PID, OBR, pid2, OBR, "ZPI|1|x|de"), profiles)
    assert len(events) == 2
    assert [e.extensions for e in events] == [{"preferred_language": "de"}] * 2


def test_the_default_charset_is_used_when_msh18_is_absent(profiles: ProfileSet) -> None:
    pid = "PID|1||111^^^HOSP_A^MR||Price \xa4^Caf\xe9"
    translation, events = events_of(msg(pid, OBR), profiles)
    assert translation.message.text.used == "iso8859-15"
    assert events[0].source.charset == "iso8859-15"
    assert events[0].source.charset_note  # says MSH-18 was empty
    assert events[0].patient.name.family == "Price €"  # 0xA4 is the euro sign in 8859-15
    assert events[0].patient.name.given == ("Café",)
    # Another sender's profile has no default charset: the same bytes read as cp1252.
    _, others = events_of(msg(pid, OBR, app="RIS", facility="X"), profiles)
    assert others[0].patient.name.family == "Price ¤"


def test_a_declared_msh18_wins_over_the_default_charset(profiles: ProfileSet) -> None:
    pid = "PID|1||111^^^HOSP_A^MR||Price \xa4^Caf\xe9"
    _, events = events_of(msg(pid, OBR, msh18="8859/1"), profiles)
    assert events[0].source.charset == "iso8859-1"
    assert events[0].patient.name.family == "Price ¤"


def test_utf8_is_still_recognised_with_a_default_charset(profiles: ProfileSet) -> None:
    data = msg("PID|1||111^^^HOSP_A^MR||X", OBR).replace(b"||X", "||Zoë".encode())
    _, events = events_of(data, profiles)
    assert events[0].patient.name.family == "Zoë"
    assert events[0].source.charset == "utf-8"


# --- bad profile files ------------------------------------------------------------------


def _refused(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_profile(path)
    text = str(caught.value)
    assert str(path) in text, "the error names the file"
    return text


def _line(text: str, path: Path) -> int:
    match = re.search(rf"{re.escape(str(path))}:(\d+):", text) or re.search(r"line (\d+)", text)
    assert match, f"no line number in {text!r}"
    return int(match.group(1))


def test_bad_toml_is_refused_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path, "broken.toml", 'name = "x"\ntimezone = "UTC"\n[match\nsending_facility = "A"\n'
    )
    text = _refused(path)
    assert "TOML" in text
    assert _line(text, path) == 3


def test_an_unknown_timezone_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path, "tz.toml", 'name = "x"\n\n# where the lab is\ntimezone = "Mars/Olympus_Mons"\n'
    )
    text = _refused(path)
    assert "unknown timezone" in text and "Mars/Olympus_Mons" in text
    assert _line(text, path) == 4


def test_a_bad_z_segment_key_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "z.toml", 'name = "x"\n\n[z_segments]\n"ZPI.3" = "ok"\n"PID.3" = "no"\n')
    text = _refused(path)
    assert "'PID.3'" in text and "Z-segment" in text
    # The table (line 3) or the key itself (line 5); the key's line would be more precise.
    assert _line(text, path) in (3, 5)


@pytest.mark.parametrize(
    ("body", "line", "key"),
    [
        ('name = "x"\ntimezon = "UTC"\n', 2, "timezon"),
        ('name = "x"\n[match]\nsending_app = "LAB"\n', 3, "sending_app"),
        ('name = "x"\n[patient_key]\nauthority = "A"\nkind = "MR"\n', 4, "kind"),
    ],
)
def test_an_unknown_key_is_refused(tmp_path: Path, body: str, line: int, key: str) -> None:
    path = write(tmp_path, "unknown.toml", body)
    text = _refused(path)
    assert key in text and "not permitted" in text
    assert _line(text, path) == line


def test_an_unknown_charset_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "cs.toml", 'default_charset = "klingon-8"\n')
    text = _refused(path)
    assert "klingon-8" in text and _line(text, path) == 1


def test_a_bad_file_in_a_folder_stops_the_load(tmp_path: Path) -> None:
    write(tmp_path, "a-good.toml", 'timezone = "UTC"\n')
    bad = write(tmp_path, "b-bad.toml", 'timezone = "Nowhere/Nothing"\n')
    with pytest.raises(ConfigError, match=re.escape(str(bad))):
        load_profiles([tmp_path])


def test_an_unreadable_profile_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'name = "caf\xe9"\n')
    _refused(path)


# --- ACK codes a sender needs ------------------------------------------------------------


def test_a_profile_may_name_the_ack_codes_its_sender_needs(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "legacy.toml",
        '[match]\nsending_application = "OLDLAB"\n\n'
        '[ack]\nstore_failed = "AE"\ncontent_error = "AR"\n',
    )
    profile = load_profile(path)
    assert profile.ack.overrides() == {"store_failed": "AE", "content_error": "AR"}
    assert DEFAULT_PROFILE.ack.overrides() == {}


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ('name = "x"\n\n[ack]\nstore_failed = "AA"\n', 4, ("store_failed", "'AE' or 'AR'")),
        (
            'name = "x"\n[ack]\ncontent_error = "AE"\nstored = "AE"\n',
            4,
            ("stored", "not permitted"),
        ),
        ('name = "x"\n[ack]\ntoo_large = "CR"\n', 3, ("too_large", "'AE' or 'AR'")),
    ],
)
def test_an_ack_code_hl7bus_cannot_give_is_refused(
    tmp_path: Path, body: str, line: int, words: tuple[str, ...]
) -> None:
    path = write(tmp_path, "ack.toml", body)
    text = _refused(path)
    assert all(word in text for word in words), text
    assert _line(text, path) == line


def test_the_sample_profiles_load_with_their_ack_codes() -> None:
    from hl7bus.mapping.profiles import load_profiles as load

    samples = Path(__file__).resolve().parents[2] / "hl7bus" / "samples" / "profiles"
    loaded = load([samples])
    overrides = {p.name: p.ack.overrides() for p in (*loaded.profiles, loaded.default)}
    assert overrides["default"] == {}
    assert any(overrides.values()), "no sample profile shows an [ack] override"
