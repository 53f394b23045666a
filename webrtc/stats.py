"""Per-call media statistics: samples the media layer takes, kept with the consult, summarised."""

from __future__ import annotations

from dataclasses import asdict

from sqlmodel import Session, select

from telemed.models import User
from webrtc.media import Sample
from webrtc.models import ConsultCallStat


def record(session: Session, consult_id: str, samples: list[Sample]) -> None:
    for sample in samples:
        session.add(ConsultCallStat(consult_id=consult_id, **asdict(sample)))


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 1) if present else None


def summary(session: Session, consult_id: str) -> dict:
    rows = session.exec(select(ConsultCallStat).where(ConsultCallStat.consult_id == consult_id)
                        .order_by(ConsultCallStat.at)).all()
    by_user: dict[int, list[ConsultCallStat]] = {}
    for row in rows:
        by_user.setdefault(row.user_id, []).append(row)
    participants = []
    for user_id, samples in by_user.items():
        account = session.get(User, user_id)
        last = samples[-1]
        participants.append({
            "user_id": user_id, "name": account.display_name if account else "", "samples": len(samples),
            "rtt_ms": _mean([s.rtt_ms for s in samples]), "bitrate_kbps": _mean([s.bitrate_kbps for s in samples]),
            "frame_rate": _mean([s.frame_rate for s in samples]),
            "packets_lost": last.packets_lost, "packets_received": last.packets_received,
            "loss_percent": _loss(last),
            "series": [{"at": s.at.isoformat(), "rtt_ms": s.rtt_ms, "bitrate_kbps": s.bitrate_kbps,
                        "frame_rate": s.frame_rate} for s in samples[-120:]],
        })
    return {"consult_id": consult_id, "participants": participants}


def _loss(sample: ConsultCallStat) -> float | None:
    if sample.packets_lost is None or not sample.packets_received:
        return None
    return round(100 * sample.packets_lost / (sample.packets_lost + sample.packets_received), 2)
