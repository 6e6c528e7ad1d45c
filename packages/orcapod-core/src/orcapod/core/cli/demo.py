"""The pipeline of ``orcapod demo``: simulated sensor recordings, cleaned, measured, summarised.

Four subjects were recorded in three sessions each: 200 samples at 100 Hz of
a rhythm at the subject's own frequency, with noise and a few spikes. One
recording is malformed (its sensor came loose: nothing but NaN), so the step
that measures it fails, and the run goes on without it:

    recordings ─ clean ─ measure ─┐
                                  ├─ with_subjects ─ per_subject ─ summary
    subjects ─────────────────────┘

``clean`` prints and logs what it removes; ``measure`` fails for the malformed
recording; ``with_subjects`` joins each recording's measures with its
subject's amplifier gain; ``per_subject`` gathers each subject's sessions and
``summary`` reduces them to one row per subject. Build it with
:func:`build_demo` and run it like any other pipeline.
"""

from __future__ import annotations

import logging
import math
import random
from typing import TYPE_CHECKING

from orcapod.core.function_pods import function_pod
from orcapod.core.operators import GroupBy, Join
from orcapod.core.pipeline import Pipeline
from orcapod.core.sources import DictSource

if TYPE_CHECKING:
    from orcapod.protocols.database import ArrowDatabase

__all__ = ["DEMO_PIPELINE", "SAMPLING_RATE_HZ", "build_demo", "recordings", "subjects"]

DEMO_PIPELINE = "sensor_demo"
SAMPLING_RATE_HZ = 100.0
SAMPLES = 200
MALFORMED = ("s3", 2)
"""The (subject, session) whose sensor came loose."""

_SUBJECTS = {"s1": (4.0, 2.0), "s2": (6.0, 1.5), "s3": (8.0, 2.5), "s4": (11.0, 1.0)}
"""Each subject's rhythm (Hz) and amplifier gain."""

_log = logging.getLogger("orcapod.demo")


def recordings() -> DictSource:
    """One row per (subject, session): the samples, simulated from a fixed seed."""
    rows = []
    for subject, (frequency, gain) in _SUBJECTS.items():
        for session in (1, 2, 3):
            noise = random.Random(f"{subject}/{session}")
            samples = [
                gain * math.sin(2 * math.pi * frequency * i / SAMPLING_RATE_HZ)
                + noise.gauss(0.0, 0.3)
                for i in range(SAMPLES)
            ]
            for spike in noise.sample(range(SAMPLES), 3):
                samples[spike] = 40.0 * gain
            if (subject, session) == MALFORMED:
                samples = [math.nan] * SAMPLES
            rows.append({"subject": subject, "session": session, "samples": samples})
    return DictSource(rows, tag_columns=["subject", "session"], source_id="recordings")


def subjects() -> DictSource:
    """Each subject's amplifier gain."""
    rows = [{"subject": s, "gain": gain} for s, (_, gain) in _SUBJECTS.items()]
    return DictSource(rows, tag_columns=["subject"], source_id="subjects")


@function_pod(output_keys=["cleaned", "removed"])
def clean(samples: list[float]) -> tuple[list[float], int]:
    """Drop missing samples and spikes (further than 6 MADs from the median)."""
    present = [x for x in samples if not math.isnan(x)]
    missing = len(samples) - len(present)
    if missing:
        _log.warning("%d of %d samples are missing (NaN)", missing, len(samples))
    if not present:
        print(f"no samples left of {len(samples)}")
        return [], missing
    ordered = sorted(present)
    median = ordered[len(ordered) // 2]
    spread = sorted(abs(x - median) for x in present)[len(present) // 2] or 1.0
    kept = [x for x in present if abs(x - median) <= 6 * spread]
    spikes = len(present) - len(kept)
    print(f"kept {len(kept)} of {len(samples)} samples: {spikes} spikes, {missing} missing")
    _log.info("removed %d spikes beyond %.2f of the median %.2f", spikes, 6 * spread, median)
    return kept, missing + spikes


@function_pod(output_keys=["rms", "peak_hz"])
def measure(cleaned: list[float]) -> tuple[float, float]:
    """The signal's RMS and its strongest frequency (a plain DFT up to Nyquist)."""
    print(f"measuring {len(cleaned)} samples at {SAMPLING_RATE_HZ:g} Hz")
    if len(cleaned) < SAMPLES // 2:
        raise ValueError(
            f"only {len(cleaned)} usable samples of {SAMPLES}: the recording is malformed"
        )
    mean = sum(cleaned) / len(cleaned)
    centred = [x - mean for x in cleaned]
    rms = math.sqrt(sum(x * x for x in centred) / len(centred))
    n = len(centred)
    best, peak_hz = -1.0, 0.0
    for k in range(1, n // 2):
        re = sum(x * math.cos(2 * math.pi * k * i / n) for i, x in enumerate(centred))
        im = sum(x * math.sin(2 * math.pi * k * i / n) for i, x in enumerate(centred))
        if re * re + im * im > best:
            best, peak_hz = re * re + im * im, k * SAMPLING_RATE_HZ / n
    _log.info("rms %.3f, peak at %.2f Hz", rms, peak_hz)
    return rms, peak_hz


@function_pod(output_keys=["sessions", "rms_uv", "peak_hz"])
def summary(rms: list[float], peak_hz: list[float], gain: list[float]) -> tuple[int, float, float]:
    """Per subject: sessions measured, mean RMS in µV (gain removed), median peak frequency."""
    peaks = sorted(peak_hz)
    return len(rms), round(sum(rms) / len(rms) / gain[0], 3), round(peaks[len(peaks) // 2], 2)


def build_demo(database: ArrowDatabase | str) -> Pipeline:
    """The demo pipeline on ``database`` (an instance or a URI), compiled, not yet run."""
    pipeline = Pipeline(DEMO_PIPELINE, database)
    with pipeline:
        cleaned = clean.pod(recordings(), label="clean")
        measured = measure.pod(cleaned, label="measure")
        joined = Join(label="with_subjects")(measured, subjects())
        grouped = GroupBy("subject", label="per_subject")(joined)
        summary.pod(grouped, label="summary")
    return pipeline
