from ansible_collections.frende.db.plugins.module_utils._backup.drill import evaluate_drill


def test_passes_when_both_targets_met():
    verdict = evaluate_drill(120.0, 3600.0, 1800.0, 86400.0)
    assert verdict == dict(rto_met=True, rpo_met=True, passed=True, findings=[])


def test_missed_rto_is_reported():
    verdict = evaluate_drill(2400.0, 3600.0, 1800.0, 86400.0)
    assert verdict["passed"] is False and verdict["rto_met"] is False and verdict["rpo_met"] is True
    assert "40min" in verdict["findings"][0] and "30min" in verdict["findings"][0]


def test_missed_rpo_is_reported():
    verdict = evaluate_drill(10.0, 90000.0, 1800.0, 86400.0)
    assert verdict["passed"] is False and verdict["rpo_met"] is False
    assert "RPO" in verdict["findings"][0]


def test_failed_restore_fails_the_drill_even_with_fresh_data():
    verdict = evaluate_drill(None, 60.0, 1800.0, 86400.0, restored=False)
    assert verdict["passed"] is False and verdict["rto_met"] is False
    assert verdict["findings"] == ["the backup did not restore"]


def test_exactly_on_target_passes():
    assert evaluate_drill(1800.0, 86400.0, 1800.0, 86400.0)["passed"] is True
