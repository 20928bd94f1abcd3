"""Something-Else box index: streamed JSON parsing, SQLite round trip, errors, worker safety."""

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from ssv2_fixtures import box_entries, object_box
from torch.utils.data import DataLoader, Dataset

from stgcn.data.boxes import (
    BoxIndex,
    MalformedJSONError,
    build_box_index,
    iter_json_object,
    load_json,
)
from stgcn.data.something_else import from_something_else


def annotations(n: int = 6) -> dict:
    """``n + 1`` videos (at least 6 + 1), a few with odd boxes."""
    out = {str(1000 + i): box_entries(str(1000 + i), 3 + i) for i in range(max(n, 6))}
    out["1002"][1]["labels"][0]["box2d"].update(x1=30.5, x2=20.0)  # inverted
    out["1003"][0]["labels"][1]["box2d"].update(y2=object_box()[1])  # zero height
    out["1004"][2]["labels"] = []  # a frame without boxes
    out["1005"] = []  # a video without frames
    out["ünï"] = box_entries("ünï", 2)  # non-ASCII id
    return out


def test_stream_parser_matches_json_load(tmp_path: Path):
    data = annotations()
    for indent in (None, 2):
        path = tmp_path / f"a{indent}.json"
        path.write_text(json.dumps(data, indent=indent, ensure_ascii=False), encoding="utf-8")
        for chunk in (1, 7, 100, 1 << 20):
            assert dict(iter_json_object(path, chunk_chars=chunk)) == data
            assert [k for k, _ in iter_json_object(path, chunk)] == list(data)
    (tmp_path / "empty.json").write_text(" { } \n")
    assert list(iter_json_object(tmp_path / "empty.json", chunk_chars=2)) == []


CORRUPTIONS = {
    "missing comma": lambda s: s.replace('],\n "1003"', ']\n "1003"', 1),
    "bad value": lambda s: s.replace('"x1": 4.0', '"x1": 4.0.1', 1),
    "trailing data": lambda s: s + ' {"x": 1}',
    "truncated": lambda s: s[: len(s) * 2 // 3],
    "not an object": lambda s: "[" + s + "]",
    "unquoted key": lambda s: s.replace('"1001":', "1001:", 1),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
@pytest.mark.parametrize("chunk", [5, 1 << 20])
def test_malformed_json_names_file_and_position(tmp_path: Path, name: str, chunk: int):
    text = CORRUPTIONS[name](json.dumps(annotations(), indent=1))
    path = tmp_path / "bounding_box_smthsmth_part3.json"
    path.write_text(text, encoding="utf-8")
    if name == "not an object":  # valid JSON, but not {video_id: [...]}
        assert isinstance(json.loads(text), list)
    else:
        with pytest.raises(json.JSONDecodeError) as ref:
            json.loads(text)
    with pytest.raises(
        MalformedJSONError, match=r"bounding_box_smthsmth_part3\.json: .*line \d+ column \d+"
    ) as e:
        for _ in iter_json_object(path, chunk_chars=chunk):
            pass
    err = e.value
    assert err.path == str(path)
    # the position matches what the text says at that line and column
    line = text.split("\n")[err.lineno - 1]
    assert text[err.pos] == line[err.colno - 1] if err.pos < len(text) else err.pos == len(text)
    if name in ("missing comma", "bad value", "trailing data", "unquoted key"):
        assert (err.lineno, err.colno, err.pos) == (
            ref.value.lineno,
            ref.value.colno,
            ref.value.pos,
        )
    with pytest.raises(MalformedJSONError, match="part3.json"):
        build_box_index([path], tmp_path / "i.sqlite")
    assert not (tmp_path / "i.sqlite").exists()


def test_load_json_names_file_and_position(tmp_path: Path):
    path = tmp_path / "something-something-v2-labels.json"
    path.write_text('{\n  "Moving something up": "0",\n  "Moving something down" "1"\n}')
    with pytest.raises(
        MalformedJSONError, match=r"labels.json: malformed JSON at line 3 column 27"
    ):
        load_json(path)


@pytest.mark.parametrize("chunk", [1, 3, 64, 1 << 20])
def test_bytes_not_utf8_name_file_line_column_and_byte(tmp_path: Path, chunk: int):
    text = json.dumps(annotations(), indent=1, ensure_ascii=False)
    raw = text.encode("utf-8")
    cut = raw.index("ünï".encode()) + len("ü".encode())  # after the 2-byte ü, 1 char earlier
    path = tmp_path / "bounding_box_smthsmth_part2.json"
    path.write_bytes(raw[:cut] + b"\xff" + raw[cut:])
    before = raw[:cut].decode("utf-8")
    line, col = before.count("\n") + 1, len(before) - before.rfind("\n")
    where = rf"part2\.json: malformed JSON at line {line} column {col} \(char {len(before)}\)"
    with pytest.raises(MalformedJSONError, match=where + rf".*byte 0xff at byte offset {cut}"):
        list(iter_json_object(path, chunk_chars=chunk))
    with pytest.raises(MalformedJSONError, match=where):
        load_json(path)


def write_parts(tmp_path: Path, data: dict, parts: int) -> list[Path]:
    ids = list(data)
    paths = []
    for p in range(parts):
        path = tmp_path / f"bounding_box_smthsmth_part{p + 1}.json"
        path.write_text(json.dumps({k: data[k] for k in ids[p::parts]}, ensure_ascii=False))
        paths.append(path)
    return paths


def test_index_round_trip_parts_and_merged(tmp_path: Path):
    data = annotations()
    parts = write_parts(tmp_path, data, 4)
    merged = tmp_path / "merged.json"
    merged.write_text(json.dumps(data))
    a = build_box_index(parts, tmp_path / "a.sqlite")
    b = build_box_index([merged], tmp_path / "b.sqlite")
    assert len(a) == len(b) == len(data)
    assert sorted(a.ids()) == sorted(data)
    for vid, entries in data.items():
        g = from_something_else(entries, video_id=vid)
        for index in (a, b):
            v = index.get(vid)
            assert v.num_annotated == len(entries)
            np.testing.assert_array_equal(v.frame, g.frame.numpy())
            np.testing.assert_array_equal(v.box, g.box.numpy())
            np.testing.assert_array_equal(v.category, g.category.numpy())
            np.testing.assert_array_equal(v.track, g.track.numpy())
    assert a.get("no-such-video") is None and "no-such-video" not in a and "1001" in a
    assert a.stats == {
        "videos": 7,
        "boxes": sum(len(f["labels"]) for e in data.values() for f in e),
        "inverted": 1,
        "zero_area": 1,
        "empty_videos": 1,
        "duplicates": 0,
    }


def test_duplicate_ids_later_file_wins(tmp_path: Path):
    first, second = tmp_path / "1.json", tmp_path / "2.json"
    first.write_text(json.dumps({"7": box_entries("7", 2)}))
    second.write_text(json.dumps({"7": box_entries("7", 5)}))
    index = build_box_index([first, second], tmp_path / "i.sqlite")
    assert len(index) == 1 and index.get("7").num_annotated == 5
    assert index.stats["duplicates"] == 1


def test_malformed_entry_names_file_video_and_frame(tmp_path: Path):
    data = annotations()
    del data["1001"][1]["labels"][0]["box2d"]
    path = tmp_path / "part.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"part\.json: .*'1001', frame entry 1, label 0: .*box2d"):
        build_box_index([path], tmp_path / "i.sqlite")


def test_open_or_build_reuses_and_rebuilds(tmp_path: Path):
    path = tmp_path / "part.json"
    path.write_text(json.dumps({"1": box_entries("1", 2)}))
    index_path = tmp_path / "i.sqlite"
    BoxIndex.open_or_build([path], index_path)
    built = index_path.stat().st_mtime_ns
    BoxIndex.open_or_build([path], index_path)
    assert index_path.stat().st_mtime_ns == built
    path.write_text(json.dumps({"1": box_entries("1", 2), "2": box_entries("2", 3)}))
    os.utime(path, ns=(built + 10**9, built + 10**9))
    assert len(BoxIndex.open_or_build([path], index_path)) == 2
    (tmp_path / "junk.sqlite").write_text("not a database")
    with pytest.raises(ValueError, match="junk.sqlite: not a box index"):
        BoxIndex(tmp_path / "junk.sqlite")
    with pytest.raises(FileNotFoundError, match="missing.json"):
        build_box_index([tmp_path / "missing.json"], index_path)


class _Lookup(Dataset):
    def __init__(self, index: BoxIndex, ids: list[str]) -> None:
        self.index, self.ids = index, ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> torch.Tensor:
        v = self.index.get(self.ids[i])
        return torch.tensor([os.getpid(), len(v.box), float(v.box.sum())])


def test_index_is_pickle_and_worker_safe(tmp_path: Path):
    data = annotations()
    path = tmp_path / "part.json"
    path.write_text(json.dumps(data))
    index = build_box_index([path], tmp_path / "i.sqlite")
    ids = sorted(data)
    index.get(ids[0])  # the parent opens its connection before the workers fork
    copy = pickle.loads(pickle.dumps(index))
    assert copy.get("1001").box.tolist() == index.get("1001").box.tolist()
    expect = torch.stack([_Lookup(index, ids)[i] for i in range(len(ids))])
    loader = DataLoader(_Lookup(index, ids), batch_size=2, num_workers=2)
    got = torch.cat(list(loader))
    assert set(got[:, 0].tolist()).isdisjoint({os.getpid()})
    torch.testing.assert_close(got[:, 1:], expect[:, 1:])
