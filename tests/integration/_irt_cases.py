"""IRT test cases (trial-system-requirements E5/G3, E7, E9) shared by the SQLite and PostgreSQL modules; each
module gives ``trial`` and ``fresh_db`` (a factory of empty migrated databases)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from _service_cases import snapshot
from _trial import PASSWORD, SEED, STUDY, Trial, build_trial, facts_for
from sqlalchemy import select

from trialtwin.engine.randomization import Subject as EngineSubject
from trialtwin.engine.randomization import initial_state
from trialtwin.engine.strata import evaluate_strata
from trialtwin.protocol import load_protocol
from trialtwin.services import (
    PermissionDenied,
    WorkflowError,
    create_user,
    export_frames,
    grant_role,
    randomize,
    register_screening,
)
from trialtwin.services.irt import (
    InputError,
    get_invalidation,
    invalidate_randomization,
    randomization_list_hash,
    reconcile_manual_allocation,
)
from trialtwin.services.sites import SiteInputError, activate_site, add_site, require_active_site, site_status
from trialtwin.services.visits import BaselineIn, record_baseline
from trialtwin.store import Database
from trialtwin.store.audit import rebuild_records, verify_chain
from trialtwin.store.randomization_list import IRT_LIST_SCHEMA, study_list
from trialtwin.store.tables import AuditLog, LedgerEntry, Site
from trialtwin.store.tables_irt import ManualAllocation, RandomizationInvalidation, RandomizationListRecord

FreshDb = Callable[[], Database]


def _independent_sha256(protocol: Any, seed: int) -> str:
    """The list hash recomputed here with hashlib and json directly (not the module's ``sha256``)."""
    listing = study_list(protocol, seed)
    assert listing is not None
    document = {**listing.list.to_dict(), "schema": IRT_LIST_SCHEMA, "generator": listing.to_dict()["generator"]}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _audit_rows(db: Database, table: str) -> list[AuditLog]:
    with db.read_session() as session:
        return list(session.execute(select(AuditLog).where(AuditLog.table_name == table)).scalars())


def _chain_ok(db: Database) -> bool:
    with db.read_session() as session:
        return verify_chain(session).ok


def _stratum_of(protocol: Any, stratum: int) -> str:
    levels = evaluate_strata(protocol, facts_for(stratum)).levels
    state = initial_state(protocol)
    _, index = state.locate(EngineSubject("x", levels))
    return state.stratum_key(index)


# ---- E5/G3: reproducible list, hash in the audit -----------------------------------------------------------


def test_list_sha256_is_identical_in_three_runs_and_recorded_in_the_audit(fresh_db: FreshDb) -> None:
    """E5/G3: same seed + protocol loaded three times on fresh databases → the same SHA-256, recorded with the
    reason "randomization list generated, sha256=…" in the audit trail; equal to the hash recomputed here."""
    protocol = load_protocol(STUDY)
    expected = _independent_sha256(protocol, SEED)
    hashes = []
    for _ in range(3):
        db = fresh_db()
        try:
            build_trial(db)
            with db.read_session() as session:
                record = session.execute(select(RandomizationListRecord)).scalar_one()
                assert (record.study_id, record.schema, record.n_per_stratum, record.n_strata) == (
                    STUDY,
                    IRT_LIST_SCHEMA,
                    protocol.enrollment.count,
                    8,
                )
            rows = _audit_rows(db, "randomization_lists")
            assert len(rows) == 1
            assert rows[0].reason == f"randomization list generated, sha256={record.sha256}"
            assert json.loads(rows[0].new_value)["sha256"] == record.sha256
            assert _chain_ok(db)
            check = randomization_list_hash(db, STUDY)
            assert check.recorded == check.computed == record.sha256 and check.matches
            hashes.append(record.sha256)
        finally:
            db.dispose()
    assert hashes == [expected] * 3
    assert study_list(protocol, SEED + 1) is not None
    assert _independent_sha256(protocol, SEED + 1) != expected  # the seed matters


def test_allocations_follow_the_list_slot_by_slot(trial: Trial) -> None:
    """E5: subjects randomized through ``services.randomize`` in a mixed order of strata take positions 1..n
    of their stratum's list, with that slot's arm, block, block size and block position."""
    listing = study_list(trial.protocol, SEED)
    assert listing is not None
    order = [0, 3, 3, 5, 0, 7, 3, 0, 5, 5, 3, 0, 0, 0, 0]
    seen: dict[str, list[int]] = {}
    for stratum in order:
        sid = trial.screen("CN-001", facts_for(stratum))
        r = randomize(trial.db, trial.study, sid, actor=trial.investigator, clock=trial.clock)
        assert r.stratum == _stratum_of(trial.protocol, stratum)
        slot = listing.slot(r.stratum, r.stratum_sequence)
        with trial.db.read_session() as session:
            entry = session.execute(select(LedgerEntry).where(LedgerEntry.sequence == r.sequence)).scalar_one()
            assert (entry.arm, entry.block, entry.block_size, entry.block_position, entry.source) == (
                slot.arm,
                slot.block,
                slot.block_size,
                slot.block_position,
                "irt",
            )
        seen.setdefault(r.stratum, []).append(r.stratum_sequence)
    assert all(positions == list(range(1, len(positions) + 1)) for positions in seen.values())
    assert sorted(len(p) for p in seen.values()) == [1, 3, 4, 7]


# ---- E7: invalidation ------------------------------------------------------------------------------------------


def _data_manager(trial: Trial, site: str | None = None, name: str = "dana") -> int:
    user = create_user(trial.db, name, "Dana Data", PASSWORD, actor=trial.admin, clock=trial.clock).id
    grant_role(trial.db, name, "data_manager", study_id=trial.study, site=site, actor=trial.admin, clock=trial.clock)
    return user


def test_invalidation_adds_a_record_keeps_the_allocation_and_the_subject_in_itt(trial: Trial) -> None:
    """E7: invalidation is a new audited record with the reason; the ledger row is unchanged, the subject stays
    randomized and in the export (ITT); a second invalidation and one without a reason are refused."""
    dm = _data_manager(trial)
    sid = trial.screen("CN-001")
    r = randomize(trial.db, trial.study, sid, actor=trial.investigator, clock=trial.clock)
    with trial.db.read_session() as session:
        before = {
            c: getattr(e, c)
            for e in [session.execute(select(LedgerEntry)).scalar_one()]
            for c in ("id", "arm", "sequence", "stratum", "subject_id", "source")
        }
    for blank in ("", "   "):
        with pytest.raises(InputError, match="reason"):
            invalidate_randomization(trial.db, trial.study, sid, blank, actor=dm, clock=trial.clock)
    with pytest.raises(PermissionDenied, match="data_manager"):
        invalidate_randomization(
            trial.db, trial.study, sid, "wrong subject", actor=trial.investigator, clock=trial.clock
        )
    with pytest.raises(PermissionDenied):
        invalidate_randomization(trial.db, trial.study, sid, "wrong subject", actor=trial.admin, clock=trial.clock)
    assert get_invalidation(trial.db, trial.study, sid) is None
    done = invalidate_randomization(
        trial.db, trial.study, sid, "randomized the wrong screening id", actor=dm, clock=trial.clock
    )
    assert (done.subject_number, done.sequence, done.reason) == (
        r.subject_number,
        r.sequence,
        "randomized the wrong screening id",
    )
    assert get_invalidation(trial.db, trial.study, sid) == done
    state = snapshot(trial)
    with pytest.raises(WorkflowError, match="invalidated already"):
        invalidate_randomization(trial.db, trial.study, sid, "again", actor=dm, clock=trial.clock)
    assert snapshot(trial) == state
    with trial.db.read_session() as session:
        entry = session.execute(select(LedgerEntry)).scalar_one()
        assert {c: getattr(entry, c) for c in before} == before
        row = session.execute(select(RandomizationInvalidation)).scalar_one()
        assert (row.ledger_id, row.invalidated_by) == (entry.id, dm)
    rows = _audit_rows(trial.db, "randomization_invalidations")
    assert len(rows) == 1 and rows[0].user_id == dm
    assert (
        rows[0].reason == f"randomization invalidated: ledger sequence {r.sequence}; randomized the wrong screening id"
    )
    assert _audit_rows(trial.db, "randomization_ledger")[0].action == "create"
    assert all(a.action == "create" for a in _audit_rows(trial.db, "randomization_ledger"))
    record_baseline(trial.db, trial.study, sid, BaselineIn(70.0, 170.0, 1), actor=trial.investigator, clock=trial.clock)
    frames = export_frames(trial.db, trial.study)
    assert r.subject_number in set(frames["subjects"]["subject_id"])
    assert get_randomization_arm(trial, sid) == r.arm
    assert _chain_ok(trial.db)


def get_randomization_arm(trial: Trial, sid: str) -> str:
    from trialtwin.services import get_randomization

    result = get_randomization(trial.db, trial.study, sid)
    assert result is not None
    return result.arm


def test_invalidation_needs_a_randomized_subject_and_the_role_at_its_site(trial: Trial) -> None:
    """E7/B3: a subject never randomized has nothing to invalidate; a data manager of another site is refused."""
    dm_other = _data_manager(trial, site="CN-002", name="dino")
    dm = _data_manager(trial)
    sid = trial.screen("CN-001")
    with pytest.raises(WorkflowError, match="not randomized"):
        invalidate_randomization(trial.db, trial.study, sid, "mistake", actor=dm, clock=trial.clock)
    randomize(trial.db, trial.study, sid, actor=trial.investigator, clock=trial.clock)
    with pytest.raises(PermissionDenied, match="CN-001"):
        invalidate_randomization(trial.db, trial.study, sid, "mistake", actor=dm_other, clock=trial.clock)


# ---- E9: manual allocation from the emergency list ----------------------------------------------------------


def test_manual_allocation_is_reconciled_on_the_next_slot_and_audited_as_manual(trial: Trial) -> None:
    """E9: an allocation made from the emergency list (the E5 list, printed) is entered later: the ledger row
    says source "manual", the audit has the reconciliation with reason naming "manual" and the envelope, and
    the next online randomization in that stratum takes the following slot."""
    listing = study_list(trial.protocol, SEED)
    assert listing is not None
    key = _stratum_of(trial.protocol, 2)
    envelope = listing.slot(key, 1)
    sid = trial.screen("CN-001", facts_for(2))
    when = dt.datetime(2025, 3, 3, 2, 30, tzinfo=dt.UTC)
    done = reconcile_manual_allocation(
        trial.db,
        trial.study,
        sid,
        arm=envelope.arm,
        emergency_ref=f"EL-{key}-001",
        allocated_at=when,
        actor=trial.investigator,
        clock=trial.clock,
    )
    assert (done.source, done.allocation.arm, done.allocation.stratum, done.allocation.stratum_sequence) == (
        "manual",
        envelope.arm,
        key,
        1,
    )
    assert done.allocation.subject_number == f"CN-001-{done.allocation.sequence:04d}"
    with trial.db.read_session() as session:
        entry = session.execute(select(LedgerEntry)).scalar_one()
        manual = session.execute(select(ManualAllocation)).scalar_one()
        assert (entry.source, manual.ledger_id, manual.arm, manual.allocated_at) == (
            "manual",
            entry.id,
            envelope.arm,
            when,
        )
    ledger_audit = _audit_rows(trial.db, "randomization_ledger")
    assert len(ledger_audit) == 1 and json.loads(ledger_audit[0].new_value)["source"] == "manual"
    manual_audit = _audit_rows(trial.db, "manual_allocations")
    assert len(manual_audit) == 1 and manual_audit[0].user_id == trial.investigator
    assert manual_audit[0].reason is not None and manual_audit[0].reason.startswith(
        f"manual allocation from the emergency list (EL-{key}-001) at 2025-03-03 02:30 UTC"
    )
    # Back online: the next subject of that stratum gets slot 2, from the IRT.
    sid2 = trial.screen("CN-001", facts_for(2))
    r2 = randomize(trial.db, trial.study, sid2, actor=trial.investigator, clock=trial.clock)
    assert (r2.stratum, r2.stratum_sequence, r2.arm) == (key, 2, listing.slot(key, 2).arm)
    with trial.db.read_session() as session:
        sources = list(session.execute(select(LedgerEntry.source).order_by(LedgerEntry.sequence)).scalars())
    assert sources == ["manual", "irt"]
    assert _chain_ok(trial.db)
    with trial.db.read_session() as session:
        rebuilt = rebuild_records(session)
    assert rebuilt[("randomization_ledger", str(entry.id))]["source"] == "manual"


def test_manual_allocation_with_another_arm_or_bad_input_is_refused_with_nothing_written(trial: Trial) -> None:
    """E9: the arm must be the list slot's arm (the error names stratum and position); bad fields are named;
    a coordinator of another site cannot reconcile; nothing is written by any refusal."""
    listing = study_list(trial.protocol, SEED)
    assert listing is not None
    key = _stratum_of(trial.protocol, 0)
    right = listing.slot(key, 1).arm
    wrong = next(a for a in listing.list.arms if a != right)
    sid = trial.screen("CN-001", facts_for(0))
    state = snapshot(trial)
    when = dt.datetime(2025, 3, 2, 12, 0, tzinfo=dt.UTC)

    def call(**changes: Any) -> None:
        args: dict[str, Any] = {
            "arm": right,
            "emergency_ref": "EL-1",
            "allocated_at": when,
            "actor": trial.investigator,
        }
        args.update(changes)
        reconcile_manual_allocation(trial.db, trial.study, sid, clock=trial.clock, **args)

    with pytest.raises(
        WorkflowError, match=rf"arm entered \({wrong}\).*stratum {key.replace('|', '[|]')} \(position 1\)"
    ):
        call(arm=wrong)
    with pytest.raises(InputError, match=r"^arm: 'placebo' is not an arm"):
        call(arm="placebo")
    with pytest.raises(InputError, match=r"^emergency_ref: required"):
        call(emergency_ref=" ")
    with pytest.raises(InputError, match=r"^allocated_at: .*in the future"):
        call(allocated_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(InputError, match=r"^allocated_at: give a date and time with its UTC offset"):
        call(allocated_at=dt.datetime(2025, 3, 2, 12, 0))
    with pytest.raises(PermissionDenied, match="CN-001"):
        call(actor=trial.coordinator)
    assert snapshot(trial) == state
    call()  # the right arm is accepted after all the refusals
    with pytest.raises(WorkflowError, match="randomized already"):
        call()


# ---- D3: site activation after approvals ----------------------------------------------------------------------


def test_a_new_site_is_inactive_until_activated_with_its_approval(trial: Trial) -> None:
    """D3: sites loaded with the protocol are active (documented default, no activation record); a site added
    later registers and randomizes no one until an administrator records its approval (audited)."""
    assert site_status(trial.db, trial.study, "CN-001").active
    assert site_status(trial.db, trial.study, "CN-001").approval_ref is None
    added = add_site(
        trial.db,
        trial.study,
        "CN-099",
        facility="New Hospital",
        city="Xi'an",
        country="China",
        actor=trial.admin,
        clock=trial.clock,
    )
    assert not added.active
    with pytest.raises(WorkflowError, match=r"CN-099 .*not active"):
        register_screening(trial.db, trial.study, "CN-099", actor=trial.investigator, clock=trial.clock)
    with trial.db.read_session() as session:
        row = session.execute(select(Site).where(Site.code == "CN-099")).scalar_one()
        with pytest.raises(WorkflowError, match="CN-099 is not activated"):
            require_active_site(row)
    with pytest.raises(WorkflowError, match="site 'CN-099' already"):
        add_site(
            trial.db, trial.study, "CN-099", facility="x", city="y", country="z", actor=trial.admin, clock=trial.clock
        )
    with pytest.raises(SiteInputError, match=r"^code: "):
        add_site(
            trial.db, trial.study, "bad code", facility="x", city="y", country="z", actor=trial.admin, clock=trial.clock
        )
    today = dt.date(2025, 3, 2)
    with pytest.raises(SiteInputError, match=r"^approval_ref: required"):
        activate_site(
            trial.db, trial.study, "CN-099", approval_ref=" ", approved_on=today, actor=trial.admin, clock=trial.clock
        )
    with pytest.raises(SiteInputError, match=r"^approved_on: .* after today"):
        activate_site(
            trial.db,
            trial.study,
            "CN-099",
            approval_ref="EC-1",
            approved_on=dt.date(2030, 1, 1),
            actor=trial.admin,
            clock=trial.clock,
        )
    with pytest.raises(PermissionDenied, match="admin"):
        activate_site(
            trial.db,
            trial.study,
            "CN-099",
            approval_ref="EC-1",
            approved_on=today,
            actor=trial.investigator,
            clock=trial.clock,
        )
    done = activate_site(
        trial.db,
        trial.study,
        "CN-099",
        approval_ref="EC-2025-017",
        approved_on=today,
        actor=trial.admin,
        clock=trial.clock,
    )
    assert (done.active, done.approval_ref, done.approved_on) == (True, "EC-2025-017", today)
    assert site_status(trial.db, trial.study, "CN-099") == done
    with pytest.raises(WorkflowError, match="active already"):
        activate_site(
            trial.db,
            trial.study,
            "CN-099",
            approval_ref="EC-2",
            approved_on=today,
            actor=trial.admin,
            clock=trial.clock,
        )
    audit = _audit_rows(trial.db, "site_activations")
    assert len(audit) == 1 and audit[0].reason == f"site CN-099 activated: approval EC-2025-017 of {today}"
    updates = [r for r in _audit_rows(trial.db, "sites") if r.action == "update"]
    assert len(updates) == 1 and json.loads(updates[0].new_value) == {"active": True}
    sid = trial.screen("CN-099")
    r = randomize(trial.db, trial.study, sid, actor=trial.investigator, clock=trial.clock)
    assert r.subject_number.startswith("CN-099-")
    assert _chain_ok(trial.db)
