"""Service test cases shared by the SQLite and the PostgreSQL test modules (each gives its own ``trial``).

Requirements are named by their row in shared/reference/trial-system-requirements.md (A1, B8, E3, …).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from _trial import PASSWORD, Trial, facts_for
from sqlalchemy import func, select

from trialtwin.engine.facts import FactsError
from trialtwin.services import (
    AlreadyRandomized,
    PermissionDenied,
    ServiceError,
    UnitOfWork,
    WorkflowError,
    authenticate,
    create_user,
    deactivate_user,
    enter_eligibility,
    get_eligibility,
    get_randomization,
    get_screening,
    grant_role,
    load_study,
    randomize,
    record_consent,
    record_consent_in,
    register_screening,
    register_screening_in,
    revoke_role,
)
from trialtwin.store.audit import canonical_json, rebuild_records, record_id, record_values, verify_chain
from trialtwin.store.repositories import facts_history, get_subject, verdict_for
from trialtwin.store.tables import AuditHead, AuditLog, Base, LedgerEntry, SubjectStatus

#: Tables outside the audit chain by design: the chain itself, and the append-only security log (account and
#: login events, written beside the audit entries; trialtwin.services.sessions).
NOT_AUDITED = {"audit_log", "audit_head", "audit_checkpoints", "security_log"}


def snapshot(trial: Trial) -> dict[str, Any]:
    """Row count of every table plus the audit head: equal before and after means no side effect."""
    with trial.db.read_session() as session:
        counts: dict[str, Any] = {
            name: session.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in Base.metadata.tables.items()
        }
        head = session.get(AuditHead, 1)
        assert head is not None
        counts["head"] = (head.seq, head.hash)
        counts["statuses"] = sorted(session.execute(select(Base.metadata.tables["subjects"].c.status)).scalars())
    return counts


def audit_rows(trial: Trial, table: str | None = None) -> list[AuditLog]:
    with trial.db.read_session() as session:
        query = select(AuditLog).order_by(AuditLog.seq)
        if table is not None:
            query = query.where(AuditLog.table_name == table)
        return list(session.execute(query).scalars())


# ---- registration and numbering ------------------------------------------------------------------------------


def test_register_numbers_screening_ids_per_site(trial: Trial) -> None:
    """Screening ids are <site>-S<nnn>, numbered per site; each registration is one audited create (A1)."""
    before = len(audit_rows(trial))
    ids = [
        register_screening(trial.db, trial.study, site, actor=trial.investigator, clock=trial.clock).screening_id
        for site in ("CN-001", "CN-001", "CN-002")
    ]
    assert ids == ["CN-001-S001", "CN-001-S002", "CN-002-S001"]
    rows = audit_rows(trial)[before:]
    assert [(r.action, r.table_name) for r in rows] == [("create", "subjects")] * 3
    assert all(r.user_id == trial.investigator and r.old_value is None for r in rows)


# ---- the happy path --------------------------------------------------------------------------------------------


def test_full_workflow_randomizes_in_the_stratum_of_the_facts(trial: Trial) -> None:
    """consent → eligibility → randomize gives an arm, the stratum derived from the stored facts, subject number
    <site>-<sequence>, and audit entries for the allocation, the state and the subject (E6)."""
    sid = trial.screen("CN-003", facts_for(5))
    result = randomize(trial.db, trial.study, sid, actor=trial.investigator, clock=trial.clock)
    assert result.arm in ("sg", "tpc")
    assert result.stratum == "prior_lines=3-4|visceral=yes|prior_cdk46=no"
    assert result.levels == {"prior_lines": "3-4", "visceral": "yes", "prior_cdk46": "no"}
    assert (result.sequence, result.stratum_sequence, result.subject_number) == (1, 1, "CN-003-0001")
    assert get_screening(trial.db, trial.study, sid).status is SubjectStatus.RANDOMIZED
    assert get_randomization(trial.db, trial.study, sid) == result
    last = audit_rows(trial)[-3:]
    assert [(r.table_name, r.action) for r in last] == [
        ("randomization_state", "update"),
        ("randomization_ledger", "create"),
        ("subjects", "update"),
    ]
    ledger_new = json.loads(last[1].new_value)
    assert ledger_new["arm"] == result.arm and ledger_new["seed_ref"] == "ever-132-002/seed-1"
    assert ledger_new["levels"] == result.levels and last[1].user_id == trial.investigator
    assert json.loads(last[0].new_value)["allocated"] == 1 and last[0].reason == "randomization 1"


def test_eligibility_verdict_is_stored_with_reasons(trial: Trial) -> None:
    """The engine's verdict is stored with one result and reason per criterion (ICH E6(R3) 4.2.2: the record
    explains the decision); the reason of the failed criterion names the value and the limit."""
    record = register_screening(trial.db, trial.study, "CN-001", actor=trial.investigator, clock=trial.clock)
    sid = record.screening_id
    record_consent(
        trial.db, trial.study, sid, dt.date(2025, 3, 1), form_version="v1", actor=trial.investigator, clock=trial.clock
    )
    stored = enter_eligibility(
        trial.db, trial.study, sid, facts_for(anc=1.2), actor=trial.investigator, clock=trial.clock
    )
    assert stored.status is SubjectStatus.NOT_ELIGIBLE
    failed = [c for c in stored.criteria if c["id"] == "I7"]
    assert failed[0]["result"] == "not_met"
    assert "Absolute neutrophil count 1.2" in failed[0]["reason"]
    assert len(stored.criteria) == len(trial.protocol.eligibility.all_criteria())
    assert get_eligibility(trial.db, trial.study, sid) == stored


def test_correction_is_a_new_version_and_the_old_one_stays(trial: Trial) -> None:
    """A correction needs a reason, becomes facts version 2, and version 1 with its verdict stays (A3)."""
    record = register_screening(trial.db, trial.study, "CN-001", actor=trial.investigator, clock=trial.clock)
    sid = record.screening_id
    record_consent(
        trial.db, trial.study, sid, dt.date(2025, 3, 1), form_version="v1", actor=trial.investigator, clock=trial.clock
    )
    enter_eligibility(trial.db, trial.study, sid, facts_for(anc=1.2), actor=trial.investigator, clock=trial.clock)
    second = enter_eligibility(
        trial.db,
        trial.study,
        sid,
        facts_for(),
        reason="ANC transcription error",
        actor=trial.investigator,
        clock=trial.clock,
    )
    assert (second.facts_version, second.status) == (2, SubjectStatus.ELIGIBLE)
    with trial.db.read_session() as session:
        subject = get_subject(session, trial.study, sid)
        history = facts_history(session, subject.id)
        assert [h.facts["anc"] for h in history] == [1.2, 2.1]
        first_verdict = verdict_for(session, history[0].id)
        assert first_verdict is not None and first_verdict.status == "not_eligible"
    facts_audit = audit_rows(trial, "screening_facts")
    assert facts_audit[-1].reason == "ANC transcription error"
    status_change = audit_rows(trial, "subjects")[-1]
    assert json.loads(status_change.old_value or "{}") == {"status": "not_eligible"}
    assert json.loads(status_change.new_value) == {"status": "eligible"}


# ---- operational order (B8) ------------------------------------------------------------------------------------


def _register(trial: Trial) -> str:
    return register_screening(trial.db, trial.study, "CN-001", actor=trial.investigator, clock=trial.clock).screening_id


def _consented(trial: Trial) -> str:
    sid = _register(trial)
    record_consent(
        trial.db, trial.study, sid, dt.date(2025, 3, 1), form_version="v1", actor=trial.investigator, clock=trial.clock
    )
    return sid


def _with_facts(facts: dict[str, Any]) -> Callable[[Trial], str]:
    def setup(trial: Trial) -> str:
        sid = _consented(trial)
        enter_eligibility(trial.db, trial.study, sid, facts, actor=trial.investigator, clock=trial.clock)
        return sid

    return setup


def _randomized(trial: Trial) -> str:
    sid = trial.screen()
    randomize(trial.db, trial.study, sid, actor=trial.investigator, clock=trial.clock)
    return sid


def _do_randomize(trial: Trial, sid: str) -> object:
    return randomize(trial.db, trial.study, sid, actor=trial.investigator, clock=trial.clock)


def _do_eligibility(trial: Trial, sid: str) -> object:
    return enter_eligibility(trial.db, trial.study, sid, facts_for(), actor=trial.investigator, clock=trial.clock)


def _do_consent(day: dt.date) -> Callable[[Trial, str], object]:
    def act(trial: Trial, sid: str) -> object:
        return record_consent(
            trial.db, trial.study, sid, day, form_version="v1", actor=trial.investigator, clock=trial.clock
        )

    return act


def _missing(name: str) -> dict[str, Any]:
    facts = facts_for()
    del facts[name]
    return facts


OUT_OF_ORDER = [
    pytest.param(_register, _do_eligibility, WorkflowError, "record informed consent", id="eligibility-before-consent"),
    pytest.param(_register, _do_randomize, WorkflowError, "record informed consent", id="randomize-before-consent"),
    pytest.param(
        _consented, _do_randomize, WorkflowError, "enter eligibility facts", id="randomize-before-eligibility"
    ),
    pytest.param(
        _with_facts(facts_for(anc=1.2)), _do_randomize, WorkflowError, "not eligible", id="randomize-not-eligible"
    ),
    pytest.param(
        _with_facts(_missing("prior_chemo_lines_mbc")),
        _do_randomize,
        WorkflowError,
        "incomplete",
        id="randomize-incomplete",
    ),
    pytest.param(
        _with_facts(_missing("visceral_metastasis")),
        _do_randomize,
        WorkflowError,
        "visceral needs visceral_metastasis",
        id="randomize-without-stratification-factor",
    ),
    pytest.param(_randomized, _do_randomize, AlreadyRandomized, "never randomized twice", id="randomize-twice"),
    pytest.param(_randomized, _do_eligibility, WorkflowError, "is randomized", id="eligibility-after-randomization"),
    pytest.param(
        _with_facts(facts_for()), _do_eligibility, WorkflowError, "needs a reason", id="correction-without-reason"
    ),
    pytest.param(_consented, _do_consent(dt.date(2025, 3, 1)), WorkflowError, "recorded already", id="consent-twice"),
    pytest.param(
        _register, _do_consent(dt.date(2030, 1, 1)), WorkflowError, "in the future", id="consent-in-the-future"
    ),
]


@pytest.mark.parametrize(("setup", "action", "error", "message"), OUT_OF_ORDER)
def test_out_of_order_step_is_refused_without_side_effects(
    trial: Trial,
    setup: Callable[[Trial], str],
    action: Callable[[Trial, str], object],
    error: type[Exception],
    message: str,
) -> None:
    """B8 / 21 CFR 11.10(f): a step out of the order consent → eligibility → randomize is refused with a clear
    message, and nothing is written (row counts, statuses and the audit head are unchanged)."""
    sid = setup(trial)
    before = snapshot(trial)
    with pytest.raises(error, match=message):
        action(trial, sid)
    assert snapshot(trial) == before


def test_bad_facts_are_refused_without_side_effects(trial: Trial) -> None:
    """Facts that do not fit the protocol's declared facts raise FactsError naming the field; nothing is written."""
    sid = _consented(trial)
    before = snapshot(trial)
    with pytest.raises(FactsError, match="anc"):
        enter_eligibility(
            trial.db, trial.study, sid, facts_for(anc="high"), actor=trial.investigator, clock=trial.clock
        )
    assert snapshot(trial) == before


# ---- access (B1-B5) --------------------------------------------------------------------------------------------


def test_site_roles_limit_data_entry_to_their_site(trial: Trial) -> None:
    """B3: the coordinator of CN-002 registers at CN-002 but not at CN-001; a monitor enters no data."""
    ok = register_screening(trial.db, trial.study, "CN-002", actor=trial.coordinator, clock=trial.clock)
    assert ok.site == "CN-002"
    with pytest.raises(PermissionDenied, match="at site CN-001"):
        register_screening(trial.db, trial.study, "CN-001", actor=trial.coordinator, clock=trial.clock)
    other_site = _register(trial)
    before = snapshot(trial)
    for act in (
        lambda: record_consent(
            trial.db,
            trial.study,
            other_site,
            dt.date(2025, 3, 1),
            form_version="v1",
            actor=trial.coordinator,
            clock=trial.clock,
        ),
        lambda: register_screening(trial.db, trial.study, "CN-001", actor=trial.monitor, clock=trial.clock),
        lambda: randomize(trial.db, trial.study, other_site, actor=trial.monitor, clock=trial.clock),
    ):
        with pytest.raises(PermissionDenied):
            act()
    assert snapshot(trial) == before


def test_revoked_role_and_disabled_user_apply_at_once(trial: Trial) -> None:
    """B5: after revocation the next call is denied; a disabled account can do nothing and cannot log in."""
    user = create_user(trial.db, "sam", "Sam Site", PASSWORD, actor=trial.admin, clock=trial.clock)
    grant = grant_role(
        trial.db, "sam", "investigator", study_id=trial.study, site="CN-004", actor=trial.admin, clock=trial.clock
    )
    register_screening(trial.db, trial.study, "CN-004", actor=user.id, clock=trial.clock)
    revoke_role(trial.db, grant, reason="left the site", actor=trial.admin, clock=trial.clock)
    with pytest.raises(PermissionDenied, match="needs the role"):
        register_screening(trial.db, trial.study, "CN-004", actor=user.id, clock=trial.clock)
    assert authenticate(trial.db, "sam", PASSWORD) is not None
    deactivate_user(trial.db, "sam", reason="account closed", actor=trial.admin, clock=trial.clock)
    assert authenticate(trial.db, "sam", PASSWORD) is None
    with pytest.raises(PermissionDenied, match="disabled"):
        register_screening(trial.db, trial.study, "CN-004", actor=user.id, clock=trial.clock)
    reasons = [r.reason for r in audit_rows(trial) if r.action == "update"][-2:]
    assert reasons == ["left the site", "account closed"]


def test_usernames_are_never_reused_and_passwords_are_hashed(trial: Trial) -> None:
    """C4 / G17: a disabled username cannot be created again; short passwords are refused; the hash is
    Argon2id and never appears in the audit trail."""
    create_user(trial.db, "olga", "Olga One", PASSWORD, actor=trial.admin, clock=trial.clock)
    deactivate_user(trial.db, "olga", reason="left", actor=trial.admin, clock=trial.clock)
    with pytest.raises(ServiceError, match="never reused"):
        create_user(trial.db, "olga", "Olga Two", PASSWORD, actor=trial.admin, clock=trial.clock)
    with pytest.raises(ServiceError, match="12 to 1024 characters"):
        create_user(trial.db, "pete", "Pete", "short", actor=trial.admin, clock=trial.clock)
    with pytest.raises(PermissionDenied):
        create_user(trial.db, "eve", "Eve", PASSWORD, actor=trial.investigator, clock=trial.clock)
    assert authenticate(trial.db, "admin", "wrong password!") is None
    info = authenticate(trial.db, "admin", PASSWORD)
    assert info is not None and info.username == "admin"
    created = [json.loads(r.new_value) for r in audit_rows(trial, "users")]
    assert all(c.get("password_hash") in (None, "[redacted]") for c in created)
    assert not any("argon2" in r.new_value for r in audit_rows(trial))


def test_loading_a_study_again_is_idempotent_and_a_different_protocol_is_refused(trial: Trial) -> None:
    """The study row records the protocol's SHA-256; the same protocol loads once, another is refused."""
    before = snapshot(trial)
    info = load_study(trial.db, trial.protocol, seed=1, actor=trial.admin, clock=trial.clock)
    assert snapshot(trial) == before and len(info.protocol_sha256) == 64
    changed = trial.protocol.model_copy(update={"keywords": ("changed",)})
    with pytest.raises(ServiceError, match="amendments"):
        load_study(trial.db, changed, seed=1, actor=trial.admin, clock=trial.clock)


def test_a_blinded_protocol_is_refused(trial: Trial) -> None:
    """E8: every role sees arms, so a blinded protocol (registry masking other than NONE) is refused, with
    nothing written, until emergency unblinding exists."""
    before = snapshot(trial)
    design = trial.protocol.design.model_copy(update={"masking": "DOUBLE"})
    blinded = trial.protocol.model_copy(update={"id": "blinded-copy", "design": design})
    with pytest.raises(ServiceError, match=r"blinded .*open-label trials only"):
        load_study(trial.db, blinded, seed=1, actor=trial.admin, clock=trial.clock)
    assert snapshot(trial) == before


# ---- audit (A1, A2, A4, G21) ----------------------------------------------------------------------------------


def _all_records(trial: Trial) -> dict[tuple[str, str], dict[str, Any]]:
    records: dict[tuple[str, str], dict[str, Any]] = {}
    with trial.db.read_session() as session:
        for mapper in Base.registry.mappers:
            cls = mapper.class_
            if cls.__tablename__ in NOT_AUDITED:
                continue
            for row in session.execute(select(cls)).scalars():
                records[(cls.__tablename__, record_id(row))] = json.loads(canonical_json(record_values(row)))
    return records


def test_replaying_the_audit_rebuilds_every_record_and_the_chain_verifies(trial: Trial) -> None:
    """A1/A2: every record was written with audit entries, and replaying the audit trail reproduces every
    current record exactly; the hash chain verifies (A9)."""
    for stratum in range(4):
        sid = trial.screen("CN-001", facts_for(stratum))
        randomize(trial.db, trial.study, sid, actor=trial.investigator, clock=trial.clock)
    _with_facts(facts_for(anc=1.0))(trial)
    with trial.db.read_session() as session:
        rebuilt = {k: json.loads(canonical_json(v)) for k, v in rebuild_records(session).items()}
        report = verify_chain(session)
    assert rebuilt == _all_records(trial)
    assert report.ok and report.length == len(audit_rows(trial))


def test_timestamps_come_from_the_server_clock_in_utc(trial: Trial) -> None:
    """A4/G21: stored times are timezone-aware UTC, read from the clock given to the use case (once per
    transaction, the same for the row and its audit entry)."""
    sid = trial.screen()
    result = randomize(trial.db, trial.study, sid, actor=trial.investigator, clock=trial.clock)
    assert result.randomized_at.tzinfo is not None and result.randomized_at.utcoffset() == dt.timedelta(0)
    assert result.randomized_at.year == 2025
    with trial.db.read_session() as session:
        entry = session.execute(select(LedgerEntry)).scalar_one()
        audit_at = {r.at for r in audit_rows(trial, "randomization_ledger")}
        assert audit_at == {entry.randomized_at}
    assert all(r.at.utcoffset() == dt.timedelta(0) for r in audit_rows(trial))


def test_a_clock_without_timezone_is_refused(trial: Trial) -> None:
    """A4: a naive time is ambiguous; the use case refuses it before touching the database."""
    before = snapshot(trial)
    with pytest.raises(ServiceError, match="timezone-aware"):
        register_screening(
            trial.db, trial.study, "CN-001", actor=trial.investigator, clock=lambda: dt.datetime(2025, 1, 1)
        )
    assert snapshot(trial) == before


def test_a_failed_unit_of_work_leaves_nothing(trial: Trial) -> None:
    """One transaction per use case: when anything fails after some writes, none of them stays (nor their
    audit entries)."""
    before = snapshot(trial)

    def fail_after_writes() -> None:
        with UnitOfWork(trial.db, actor=trial.investigator, clock=trial.clock) as uow:
            register_screening_in(uow, trial.study, "CN-001")
            record_consent_in(uow, trial.study, "CN-001-S001", dt.date(2025, 3, 1), form_version="v1")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_after_writes()
    assert snapshot(trial) == before
