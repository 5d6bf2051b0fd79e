"""The tracks file is checked before any work, and the report's funnel line."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from leadscore.errors import LeadscoreError
from leadscore.settings import load_settings
from leadscore.tasks import lifecycle
from tests.conftest import PRACTICE_TRACKS

DEFAULT = load_settings().tracks_path.read_text(encoding="utf-8")


def tracks_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tracks.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_default_file_has_every_track_of_the_practice():
    tracks = lifecycle.load_tracks(load_settings().tracks_path)
    assert {r.track for r in tracks.rules} == PRACTICE_TRACKS
    # The catch-all comes last: every lead gets a track.
    assert not tracks.rules[-1].conditions
    assert tracks.segment_by == ("persona", "vertical")


CATCH_ALL = '\n[[rules]]\nname = "rest"\ntrack = "lead_nurture"\nreason = "The rest"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # A typo in a fact name would silently match everyone: it is refused.
        (
            '[[rules]]\nname = "x"\nsigned_upp = true\ntrack = "welcome"\nreason = "r"\n'
            + CATCH_ALL,
            "x: unknown key(s) signed_upp",
        ),
        (
            '[[rules]]\nname = "x"\nstage = ["trial"]\ntrack = "welcome"\nreason = "r"\n'
            + CATCH_ALL,
            "x: stage 'trial' is not one of customer",
        ),
        (
            '[[rules]]\nname = "x"\ndays_since_created = 14\ntrack = "welcome"\nreason = "r"\n'
            + CATCH_ALL,
            "x: days_since_created takes min and/or max",
        ),
        (
            '[[rules]]\nname = "x"\ndays_since_created = { min = 9, max = 2 }\n'
            'track = "welcome"\nreason = "r"\n' + CATCH_ALL,
            "x: days_since_created min 9 is above max 2",
        ),
        (
            '[[rules]]\nname = "x"\nsigned_up = true\ntrack = "welcome"\n'
            'reason = "Signed up {days_since_signupp} days ago"\n' + CATCH_ALL,
            "x: reason names {days_since_signupp}",
        ),
        (
            '[[rules]]\nname = "x"\nsigned_up = true\ntrack = "Welcome Track"\nreason = "r"\n'
            + CATCH_ALL,
            "x: track 'Welcome Track' is not a lower-case name",
        ),
        # Without a catch-all some leads would have no track.
        (
            '[[rules]]\nname = "only"\nsigned_up = true\ntrack = "welcome"\nreason = "r"\n',
            "only: the last rule must have no condition",
        ),
        ('segment_by = ["region"]\n' + CATCH_ALL, "segment_by: 'region' is not one of"),
        ('[personas]\nboss = "decision_maker"\n' + CATCH_ALL, "[personas]: 'boss' is not a"),
        (
            '[funnel]\nengaged_events = ["tweet"]\n' + CATCH_ALL,
            "[funnel] engaged_events: 'tweet' is not a contract event",
        ),
        ("", "no [[rules]]"),
        ("rules = [", "tracks file"),
    ],
)
def test_a_mistake_in_the_tracks_file_names_the_file_the_rule_and_the_key(tmp_path, text, message):
    path = tracks_file(tmp_path, text)
    with pytest.raises(LeadscoreError) as info:
        lifecycle.load_tracks(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_a_file_of_one_default_track_is_enough(tmp_path):
    # An early-stage company: no segments, one track for everyone below the threshold.
    tracks = lifecycle.load_tracks(tracks_file(tmp_path, "segment_by = []\n" + CATCH_ALL))
    assert tracks.segment_by == () and len(tracks.rules) == 1


def test_funnel_losses_names_each_channels_weakest_step():
    funnel = pl.DataFrame(
        {
            "lead_source": ["webinar", "webinar", "referral"],
            "leads": [60, 40, 50],
            "signed_up": [30, 30, 40],
            "engaged": [30, 30, 40],
            "sdr_ready": [20, 10, 20],
            "routed": [20, 10, 20],
            "qualified": [10, 10, 10],
            "opportunity": [10, 10, 10],
            "won": [5, 5, 1],
        }
    )
    lines = lifecycle.funnel_losses(funnel)
    # referral keeps 1 of its 10 opportunities (10%), its smallest step. webinar, its cohorts
    # summed, keeps half at two steps (30 of 60 engaged become SDR-ready, 10 of 20 opportunities
    # are won): a tie names the earlier step.
    assert lines == [
        "referral: 50 leads, 1 won (2.0%); loses most between opportunity and won (keeps 10%)",
        "webinar: 100 leads, 10 won (10.0%); loses most between engaged and sdr ready (keeps 50%)",
    ]
    assert lifecycle.funnel_losses(funnel.clear()) == []
