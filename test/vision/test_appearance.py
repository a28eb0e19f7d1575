"""A store's SKU looks: the description's colours and operators' answers decide what is unfamiliar."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from restock.paths import SOURCE_ROOT
from restock.store.description import load_store, parse_store
from restock.vision.appearance import AppearanceDb, SkuLooks, front_pixels, match_fraction, view_palette
from restock.vision.lane_front import CROP_SIZE

COOLER = SOURCE_ROOT / "config" / "stores" / "walk_in_cooler.yaml"


def crop_of(colour: tuple[float, float, float], lower: tuple[float, float, float] | None = None) -> np.ndarray:
    """A lane-front crop in one colour, its lower half in another (an item standing in front)."""
    crop = np.empty((CROP_SIZE, CROP_SIZE, 3), np.uint8)
    crop[:] = np.round(np.array(colour) * 255)
    if lower is not None:
        crop[CROP_SIZE // 2 :] = np.round(np.array(lower) * 255)
    return crop


@pytest.fixture(scope="module")
def cooler():
    return load_store(COOLER)


def test_a_sku_in_its_own_colours_is_that_sku_under_dimmer_light(cooler) -> None:
    looks = SkuLooks(cooler)
    sku = cooler.skus["coconut_water_330"]
    dim = tuple(0.6 * c for c in sku.color)  # the case's lights render it darker than described
    assert looks.shows("coconut_water_330", crop_of(dim))
    assert not looks.shows("blue_sport_600", crop_of(dim))


def test_a_foreign_item_in_front_of_the_column_is_not_the_sku(cooler) -> None:
    looks = SkuLooks(cooler)
    sku = cooler.skus["vitamin_water_500"]
    crop = crop_of(sku.color, lower=(0.1, 0.6, 0.9))
    assert not looks.shows("vitamin_water_500", crop)


def test_an_operators_label_makes_that_look_the_skus(cooler) -> None:
    looks = SkuLooks(cooler)
    seen = crop_of((0.3, 0.5, 0.35))  # how this store's camera sees it, far from the description
    assert not looks.shows("kombucha_400", seen)
    looks.raised("req-1", "cam_1", "r1_l05", 10.0, seen)
    assert looks.resolved("req-1", "labelled", "kombucha_400")
    assert looks.shows("kombucha_400", seen)
    assert not looks.shows("peach_tea_500", seen)  # the label taught kombucha, not any SKU
    assert looks.confirmed == {"kombucha_400": 1}


def test_foreign_items_and_unknown_requests_teach_nothing(cooler) -> None:
    looks = SkuLooks(cooler)
    looks.raised("req-2", "cam_1", "r1_l05", 10.0, crop_of((0.9, 0.1, 0.9)))
    assert not looks.resolved("req-2", "removed", "foreign_item")
    assert not looks.resolved("no-such-request", "labelled", "kombucha_400")
    assert looks.confirmed == {}


def test_labels_persist_and_reach_every_camera_of_the_store(cooler, tmp_path: Path) -> None:
    path = tmp_path / "appearance.sqlite"
    seen = crop_of((0.3, 0.5, 0.6))
    raising = SkuLooks(cooler, AppearanceDb(path, cooler.name))
    other_camera = SkuLooks(cooler, AppearanceDb(path, cooler.name))
    raising.raised("cam_2.r2_l03.unfamiliar.1", "cam_2", "r2_l03", 60.0, seen)
    # The resolution reaches every camera node; each confirms the row the raising node kept.
    assert other_camera.resolved("cam_2.r2_l03.unfamiliar.1", "labelled", "tonic_slim_330")
    assert raising.resolved("cam_2.r2_l03.unfamiliar.1", "labelled", "tonic_slim_330")
    assert other_camera.shows("tonic_slim_330", seen)
    restarted = SkuLooks(cooler, AppearanceDb(path, cooler.name))
    assert restarted.confirmed == {"tonic_slim_330": 1}
    assert restarted.shows("tonic_slim_330", seen)
    corner = load_store(SOURCE_ROOT / "config" / "stores" / "corner_store.yaml")
    assert SkuLooks(corner, AppearanceDb(path, corner.name)).confirmed == {}  # one file, stores apart


def test_a_view_palette_covers_its_own_front() -> None:
    rng = np.random.default_rng(3)
    crop = crop_of((0.8, 0.7, 0.2), lower=(0.2, 0.3, 0.7))
    crop = np.clip(crop.astype(int) + rng.integers(-6, 7, crop.shape), 0, 255).astype(np.uint8)
    pixels = front_pixels(crop)
    assert match_fraction(pixels, view_palette(pixels)) >= 0.9


def test_the_walk_in_coolers_skus_are_not_unfamiliar_but_foreign_items_are(cooler) -> None:
    """The cooler's plain cream coconut-water bottle reads as unfamiliar to the shipped lane-front model
    alone (r1_l20 and r4_l23 on this render); with the store's looks no planogram SKU is flagged, and
    foreign items put at fronts still are."""
    from restock.sim.world import World
    from restock.vision.detector import OnnxDetector, cameras_model
    from restock.vision.lane_front import DEFAULT_LANE_FRONT_MODEL, LaneFrontClassifier, crop_fronts
    from restock.vision.lanes import lane_regions, read_lanes

    detector, classifier = OnnxDetector(cameras_model(), 0.05), LaneFrontClassifier(DEFAULT_LANE_FRONT_MODEL)
    regions = lane_regions(cooler, "cam_4")
    world = World(cooler, seed=5)
    looks = SkuLooks(cooler)

    def flagged() -> tuple[set[str], set[str]]:
        rgb = world.render("cam_4")
        fronts = classifier.classify(crop_fronts(rgb, [r.box for r in regions]))
        readings = read_lanes(regions, detector.detect(rgb), rgb, cooler.skus, fronts=fronts, looks=looks)
        return {r.lane_id for r in readings if r.unfamiliar}, {r.lane_id for r in readings if r.recognised}

    unfamiliar, recognised = flagged()
    assert unfamiliar == set()
    assert recognised, "the models flagged none of the cooler's fronts: nothing was checked"
    for lane in ("r1_l20", "r4_l23", "r2_l21"):
        world.put_unfamiliar(lane, slot=0)
    unfamiliar, _ = flagged()
    assert unfamiliar == {"r1_l20", "r4_l23", "r2_l21"}


def _misdescribed(store):
    """The cooler with the coconut water's colours wrong in its description (a real one can be)."""
    data = store.model_dump()
    data["skus"]["coconut_water_330"].update(color=(0.2, 0.3, 0.8), label_color=(0.8, 0.2, 0.2))
    return parse_store(data)


@pytest.mark.parametrize("answer", ["labelled", "removed"])
def test_one_question_per_sku_at_a_time(cooler, answer: str) -> None:
    """Two fronts of one SKU flagged on the same frame raise one handoff; "it is the SKU" settles
    both, any other answer asks about the second front then."""
    from restock.sim.world import World
    from restock.vision.detector import OnnxDetector, cameras_model
    from restock.vision.lane_filter import FilterConfig
    from restock.vision.lane_front import LaneFrontClassifier
    from restock.vision.pipeline import CameraPipeline

    rgb = World(cooler, seed=5).render("cam_4")
    pipe = CameraPipeline(
        _misdescribed(cooler),
        "cam_4",
        OnnxDetector(cameras_model(), 0.05),
        FilterConfig(confirm_frames=2, flag_frames=2),
        lane_front=LaneFrontClassifier(),
    )
    results = [pipe.process(rgb, t, t) for t in (1.0, 2.0, 3.0)]
    flagged = {lane.lane_id for lane in results[-1].observation.lanes if lane.unfamiliar}
    assert flagged == {"r1_l20", "r4_l23"}
    raised = [h for r in results for h in r.handoffs]
    assert [h.kind for h in raised] == ["unfamiliar_item"], raised
    assert pipe.looks is not None
    label = "coconut_water_330" if answer == "labelled" else "foreign_item"
    pipe.looks.resolved(raised[0].request_id, answer, label)
    later = [pipe.process(rgb, t, t) for t in (4.0, 5.0, 6.0)]
    asked = [h.lane_id for r in later for h in r.handoffs]
    if answer == "labelled":
        assert asked == [] and not any(lane.unfamiliar for lane in later[-1].observation.lanes)
    else:
        assert asked == list(flagged - {raised[0].lane_id})
