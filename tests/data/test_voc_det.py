"""VOC detection reader on a tiny VOCdevkit written from generated samples; errors name paths and files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bnnbench import data
from bnnbench.data.gen_det import DetRenderer
from bnnbench.data.voc_det import VOC_CLASSES, read_annotation, resize_scale

# the generated shapes dressed as VOC classes (rectangle, ellipse, triangle)
AS_VOC = {1: "tvmonitor", 2: "bottle", 3: "boat"}
SPLITS = {("2007", "trainval"): ["000005", "000007"], ("2007", "test"): ["000001", "000004", "000006"],
          ("2012", "trainval"): ["2008_000002"]}


def _xml(target: dict, size: tuple[int, int], extra: str = "") -> str:
    objects = "".join(
        f"<object><name>{AS_VOC[int(c)]}</name><difficult>{int(d)}</difficult><bndbox><xmin>{int(b[0]) + 1}</xmin>"
        f"<ymin>{int(b[1]) + 1}</ymin><xmax>{int(b[2])}</xmax><ymax>{int(b[3])}</ymax></bndbox></object>"
        for b, c, d in zip(target["boxes"].tolist(), target["labels"], target["difficult"])
    )
    return f"<annotation><size><width>{size[1]}</width><height>{size[0]}</height></size>{objects}{extra}</annotation>"


def write_vocdevkit(root: Path, size: tuple[int, int] = (60, 80)) -> dict[str, dict]:
    """VOC2007 trainval/test and VOC2012 trainval of generated samples; returns the targets by id."""
    render = DetRenderer(size, (0.0, 1.0))
    targets = {}
    for k, ((year, split), ids) in enumerate(SPLITS.items()):
        folder = root / f"VOC{year}"
        for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        (folder / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
        for j, image_id in enumerate(ids):
            image, target = render(np.random.default_rng([k, j]))
            Image.fromarray((image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(
                folder / "JPEGImages" / f"{image_id}.jpg", quality=95)
            (folder / "Annotations" / f"{image_id}.xml").write_text(_xml(target, size))
            targets[image_id] = target
    return targets


def test_reader_gives_voc_boxes_in_torchvision_coordinates(tmp_path):
    targets = write_vocdevkit(tmp_path)
    dm = data.build("voc_det", root=str(tmp_path), train_sets="07+12", short_side=60, max_side=100)
    dm.setup("fit")
    assert dm.info.kind == "det" and dm.info.num_classes == 21
    assert len(dm.train_set) == 3 and len(dm.test_set) == 3 and dm.val_set is dm.test_set
    image, target = dm.test_set[0]  # VOC2007 test 000001, not resized (short side already 60), not flipped
    assert image.shape == (3, 60, 80)
    want = targets["000001"]
    assert torch.equal(target["boxes"], want["boxes"]) and torch.equal(target["difficult"], want["difficult"])
    assert [VOC_CLASSES[c - 1] for c in target["labels"]] == [AS_VOC[int(c)] for c in want["labels"]]
    only07 = data.build("voc_det", root=str(tmp_path), train_sets="07")
    only07.setup("fit")
    assert len(only07.train_set) == 2


def test_short_side_resize_scales_boxes(tmp_path):
    targets = write_vocdevkit(tmp_path)
    dm = data.build("voc_det", root=str(tmp_path), short_side=120, max_side=1000)
    dm.setup("fit")
    image, target = dm.test_set[1]
    assert image.shape == (3, 120, 160)
    assert torch.allclose(target["boxes"], targets["000004"]["boxes"] * 2)
    assert resize_scale(375, 500, 600, 1000) == 1.6 and resize_scale(300, 900, 600, 1000) == pytest.approx(1000 / 900)


def test_training_images_are_flipped_half_the_time(tmp_path):
    write_vocdevkit(tmp_path)
    dm = data.build("voc_det", root=str(tmp_path), short_side=60, train_sets="07")
    dm.setup("fit")
    torch.manual_seed(0)
    firsts = {tuple(dm.train_set[0][1]["boxes"][0].tolist()) for _ in range(20)}
    assert len(firsts) == 2  # as given and mirrored


def test_missing_files_are_named_with_the_layout(tmp_path):
    write_vocdevkit(tmp_path)
    (tmp_path / "VOC2007" / "JPEGImages" / "000004.jpg").unlink()
    dm = data.build("voc_det", root=str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"missing .*VOC2007/JPEGImages/000004.jpg; expected layout"):
        dm.setup("fit")
    with pytest.raises(FileNotFoundError, match=r"folder .*nowhere does not exist"):
        data.build("voc_det", root=str(tmp_path / "nowhere")).setup("fit")
    with pytest.raises(FileNotFoundError, match=r"VOC2012"):
        write_vocdevkit(tmp_path / "only07")
        import shutil

        shutil.rmtree(tmp_path / "only07" / "VOC2012")
        data.build("voc_det", root=str(tmp_path / "only07")).setup("fit")


def test_unknown_class_names_the_file(tmp_path):
    path = tmp_path / "x.xml"
    path.write_text("<annotation><object><name>unicorn</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
                    "<xmax>5</xmax><ymax>5</ymax></bndbox></object></annotation>")
    with pytest.raises(ValueError, match=r"unknown class 'unicorn' in .*x.xml; VOC classes are aeroplane"):
        read_annotation(path)
    with pytest.raises(ValueError, match="train_sets must be one of 07, 12, 07\\+12, got '2007'"):
        data.build("voc_det", root=str(tmp_path), train_sets="2007")


@pytest.mark.parametrize("fault, message", [
    ("xml", r"cannot read .*000007\.jpg / .*000007\.xml: no element found"),
    ("jpeg", r"cannot read .*000007\.jpg / .*000007\.xml: .*(truncated|Truncated)"),
    ("box", r"a box of .*000007\.xml is empty or outside its 80x60 image: xmin=1 ymin=1 xmax=90"),
])
def test_the_scan_names_a_malformed_annotation_a_truncated_image_and_a_box_outside(fault, message, tmp_path,
                                                                                   monkeypatch):
    """Issue: these failed mid-epoch naming no file; now the pre-training scan names them."""
    from bnnbench.data import scan as scan_module

    monkeypatch.setattr(scan_module, "CACHE", tmp_path / "cache")
    targets = write_vocdevkit(tmp_path / "voc")
    folder = tmp_path / "voc" / "VOC2007"
    if fault == "xml":
        (folder / "Annotations" / "000007.xml").write_text("<annotation>\n")
    elif fault == "jpeg":
        jpg = folder / "JPEGImages" / "000007.jpg"
        jpg.write_bytes(jpg.read_bytes()[:300])
    else:
        bad = {**targets["000007"], "boxes": torch.tensor([[0.0, 0.0, 90.0, 20.0]]), "labels": torch.tensor([1]),
               "difficult": torch.tensor([False])}
        (folder / "Annotations" / "000007.xml").write_text(_xml(bad, (60, 80)))
    dm = data.build("voc_det", root=str(tmp_path / "voc"), train_sets="07+12", short_side=60, max_side=100)
    dm.setup("fit")
    with pytest.raises(scan_module.BadDataFile, match=message):
        scan_module.scan(dm, "voc_det")
