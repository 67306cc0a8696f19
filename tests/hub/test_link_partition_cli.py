"""Which partition a process builds, and which records are its: `--partition I/N`, `--partitions N` with the
Indexed Job's JOB_COMPLETION_INDEX, and the stable hash that puts each record in one partition. Bad input is
the command's usage error or a configuration error (exit 2, no traceback), said in words."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.cli import build_parser
from hub.cli.link import partition_from
from hub.errors import ConfigError
from hub.ops.linking import Partition
from hub.ops.linking.rows import MAX_PARTITIONS, partition_of

VALID = [
    ("the whole build", "0/1", Partition(0, 1)),
    ("the first of two", "0/2", Partition(0, 2)),
    ("the second of two", "1/2", Partition(1, 2)),
    ("spaces around", " 3/4 ", Partition(3, 4)),
    ("the last of the most", f"{MAX_PARTITIONS - 1}/{MAX_PARTITIONS}", Partition(MAX_PARTITIONS - 1, MAX_PARTITIONS)),
]
INVALID = [
    ("empty", "", "is not I/N"),
    ("no N", "1", "is not I/N"),
    ("I is N", "2/2", "there is no partition 2 of 2: they are numbered from 0 to 1"),
    ("I past N", "5/2", "there is no partition 5 of 2"),
    ("no partitions", "0/0", "1 to 1024 partitions, not 0"),
    ("too many", "0/2000", "1 to 1024 partitions, not 2000"),
    ("negative", "-1/2", "is not I/N"),
    ("words", "a/b", "is not I/N"),
    ("three parts", "1/2/3", "is not I/N"),
    ("hexadecimal", "0x1/2", "is not I/N"),
    ("other digits", "\u0661/\u0662", "is not I/N"),  # Arabic-Indic 1/2: int() would take them
]


@pytest.mark.parametrize(("description", "text", "expected"), VALID, ids=[c[0] for c in VALID])
def test_a_partition_is_i_of_n(description: str, text: str, expected: Partition) -> None:
    assert Partition.parse(text) == expected
    assert str(expected) == text.strip()


@pytest.mark.parametrize(("description", "text", "message"), INVALID, ids=[c[0] for c in INVALID])
def test_anything_else_is_refused_in_words(description: str, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Partition.parse(text)


def test_each_record_is_in_one_partition_the_same_everywhere_and_they_are_even() -> None:
    # Pinned: a change to the function would let an unfinished run's partitions decide records twice or never.
    assert [partition_of("hb", "HB0000001", n) for n in (2, 7, 1024)] == [1, 2, 81]
    assert [partition_of("social_care", "SC0000001", n) for n in (2, 7, 1024)] == [1, 2, 587]
    assert [partition_of("dwp", "1", n) for n in (2, 7, 1024)] == [1, 0, 337]
    # The source is part of it: one record id in two sources need not share a partition.
    assert [partition_of(source, "1", 1024) for source in ("dwp", "hb", "social_care")] == [337, 247, 387]
    ids = [f"HB{i:07d}" for i in range(20_000)]
    for n in (2, 3, 8):
        sizes = collections.Counter(partition_of("hb", i, n) for i in ids)
        assert set(sizes) == set(range(n))
        assert max(sizes.values()) / min(sizes.values()) < 1.1, sizes
        # Exactly one partition owns each record.
        for record in ids[:200]:
            assert sum(Partition(i, n).owns("hb", record) for i in range(n)) == 1
    assert all(Partition().owns("hb", i) for i in ids[:100])


FROM = [
    ("neither: the whole build", None, None, {}, Partition()),
    ("--partition as given", Partition(1, 3), None, {"JOB_COMPLETION_INDEX": "0"}, Partition(1, 3)),
    ("--partitions with the pod's index", None, 4, {"JOB_COMPLETION_INDEX": "3"}, Partition(3, 4)),
    ("--partitions 1", None, 1, {"JOB_COMPLETION_INDEX": "0"}, Partition()),
    ("the index alone is not a split", None, None, {"JOB_COMPLETION_INDEX": "2"}, Partition()),
]
FROM_REFUSED = [
    ("no index", None, 2, {}, "--partitions 2 takes this process's partition from JOB_COMPLETION_INDEX, which is"),
    ("an empty index", None, 2, {"JOB_COMPLETION_INDEX": " "}, "which is not set"),
    ("an index past N", None, 2, {"JOB_COMPLETION_INDEX": "2"}, "no partition 2 of 2.*runs from 0 to 1"),
    ("an index not a number", None, 2, {"JOB_COMPLETION_INDEX": "one"}, "JOB_COMPLETION_INDEX is 'one', not a number"),
    ("a negative index", None, 2, {"JOB_COMPLETION_INDEX": "-1"}, "not a number"),
]


@pytest.mark.parametrize(("description", "given", "partitions", "env", "expected"), FROM, ids=[c[0] for c in FROM])
def test_the_partition_from_the_options_and_the_indexed_job(
    description: str, given: Partition | None, partitions: int | None, env: dict[str, str], expected: Partition
) -> None:
    assert partition_from(given, partitions, env) == expected


@pytest.mark.parametrize(
    ("description", "given", "partitions", "env", "message"), FROM_REFUSED, ids=[c[0] for c in FROM_REFUSED]
)
def test_a_missing_or_wrong_index_is_a_configuration_error(
    description: str, given: Partition | None, partitions: int | None, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        partition_from(given, partitions, env)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--partition", "2/2"], "argument --partition: there is no partition 2 of 2"),
        (["--partition", "half"], "argument --partition: 'half' is not I/N"),
        (["--partitions", "0"], "argument --partitions: '0' is not a number of partitions from 1 to 1024"),
        (["--partitions", "two"], "argument --partitions: 'two' is not a number"),
        (["--partition", "0/2", "--partitions", "2"], "argument --partitions: not allowed with argument --partition"),
    ],
)
def test_bad_options_are_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["link", "build", *argv])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: welfare-hub link build")
    assert message in err


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--partition", "3/2"], {}, "argument --partition: there is no partition 3 of 2"),
        (["--partitions", "2"], {}, "takes this process's partition from JOB_COMPLETION_INDEX, which is not set"),
        (["--partitions", "2"], {"JOB_COMPLETION_INDEX": "7"}, "there is no partition 7 of 2"),
    ],
)
def test_the_command_exits_2_saying_why_without_a_traceback(
    argv: list[str], env: dict[str, str], message: str, tmp_path: Path
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "WELFARE_HUB_", "JOB_"))}
    done = subprocess.run(
        [sys.executable, "-m", "hub", "link", "build", *argv],
        env=clean | env | {"WELFARE_HUB_DATA_DIR": str(tmp_path / "data")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert message in done.stderr
    assert not (tmp_path / "data" / "pg").exists()  # refused before any database was started
