"""The clinical routes reach helper-clinical's services, and the export route gives the frames (statistician,
not site roles)."""

from __future__ import annotations

from _web import STUDY, Web


def test_baseline_then_export_as_statistician_only(web: Web) -> None:
    for n, site in enumerate(("CN-001", "CN-002"), start=1):
        sid = web.subjects[site]["randomized"]
        r = web.client.post(
            f"/api/v1/studies/{STUDY}/subjects/{sid}/baseline",
            json={"weight_kg": 62.5, "height_cm": 165, "ecog": 1},
            headers=web.bearer(f"inv{n}"),
        )
        assert r.status_code == 201, r.text
    url = f"/api/v1/studies/{STUDY}/export"
    assert web.client.get(url, headers=web.bearer("inv1")).status_code == 403
    assert web.client.get(url, headers=web.bearer("monitor1")).status_code == 403
    r = web.client.get(url, headers=web.bearer("statistician"))
    assert r.status_code == 200, r.text
    frames = r.json()
    assert frames and all(isinstance(rows, list) for rows in frames.values())
    text = r.text
    assert web.subjects["CN-001"]["randomized"] in text or "CN-001-0001" in text


def test_clinical_input_errors_name_the_field(web: Web) -> None:
    sid = web.subjects["CN-001"]["randomized"]
    h = web.bearer("inv1")
    r = web.client.post(
        f"/api/v1/studies/{STUDY}/subjects/{sid}/adverse-events",
        json={"term": "Nausea", "onset": "2025-03-02"},
        headers=h,
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "grade", r.text
    r = web.client.post(
        f"/api/v1/studies/{STUDY}/subjects/{sid}/visits",
        json={"cycle": 1, "day": 1, "visit_date": "2025-03-03", "weight_kg": -1},
        headers=h,
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "weight_kg"]
    registered = web.subjects["CN-001"]["registered"]
    r = web.client.post(
        f"/api/v1/studies/{STUDY}/subjects/{registered}/adverse-events",
        json={"term": "Nausea", "onset": "2025-03-02", "grade": 1},
        headers=h,
    )
    assert r.status_code == 409, r.text  # nothing clinical before randomization (B8)
