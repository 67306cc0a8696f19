"""Keyed NINO hashes, key rotation and per-organisation pseudonyms."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

import pytest

from linkage import HashedNino, KeyedHash, KeyId, KeyRing, LinkageError, NormalisedNino, UnknownKey

NINO = NormalisedNino("JZ314159B")
OTHER_NINO = NormalisedNino("JZ314159C")


@pytest.fixture
def secrets_by_id() -> dict[KeyId, bytes]:
    return {KeyId("k1"): secrets.token_bytes(32), KeyId("k2"): secrets.token_bytes(48)}


@pytest.fixture
def ring(secrets_by_id: dict[KeyId, bytes]) -> KeyRing:
    return KeyRing(keys=secrets_by_id, current=KeyId("k2"), pseudonym_key=secrets.token_bytes(32))


def test_hash_is_hmac_sha256_of_the_nino_under_the_current_key(
    ring: KeyRing, secrets_by_id: dict[KeyId, bytes]
) -> None:
    # The "nino:" prefix is part of the stored hash format: every persisted index depends on it.
    expected = hmac.new(secrets_by_id[KeyId("k2")], b"nino:JZ314159B", hashlib.sha256).hexdigest()
    assert ring.hash_nino(NINO) == KeyedHash(KeyId("k2"), HashedNino(expected))
    # Never the plain (enumerable) SHA-256.
    assert ring.hash_nino(NINO).value != hashlib.sha256(NINO.encode()).hexdigest()


def test_hash_is_stable_and_separates_ninos(ring: KeyRing, secrets_by_id: dict[KeyId, bytes]) -> None:
    again = KeyRing(keys=dict(secrets_by_id), current=KeyId("k2"), pseudonym_key=secrets.token_bytes(32))
    assert ring.hash_nino(NINO) == ring.hash_nino(NINO) == again.hash_nino(NINO)
    assert ring.hash_nino(NINO).value != ring.hash_nino(OTHER_NINO).value


def test_hash_differs_per_key_id(ring: KeyRing) -> None:
    k1, k2 = ring.hash_nino(NINO, KeyId("k1")), ring.hash_nino(NINO, KeyId("k2"))
    assert (k1.key_id, k2.key_id) == ("k1", "k2")
    assert k1.value != k2.value


def test_older_key_still_hashes_after_rotation(secrets_by_id: dict[KeyId, bytes]) -> None:
    before = KeyRing(keys={KeyId("k1"): secrets_by_id[KeyId("k1")]}, current=KeyId("k1"), pseudonym_key=b"p" * 32)
    stored = before.hash_nino(NINO)

    rotated = KeyRing(keys=secrets_by_id, current=KeyId("k2"), pseudonym_key=b"p" * 32)
    assert rotated.hash_nino(NINO).key_id == "k2"
    assert rotated.hash_nino(NINO).value != stored.value
    # While the index is re-keyed, a hash stored under k1 must still be found.
    assert rotated.hash_nino(NINO, stored.key_id) == stored


def test_unknown_key_id_raises_unknown_key(ring: KeyRing) -> None:
    with pytest.raises(UnknownKey) as caught:
        ring.hash_nino(NINO, KeyId("retired"))
    assert isinstance(caught.value, KeyError)
    assert isinstance(caught.value, LinkageError)
    assert caught.value.args == ("retired",)


# (description, keys, current, pseudonym key length, every fragment the one error must list)
BAD_RINGS = [
    (
        "current id not in the ring",
        {"k1": 32},
        "k9",
        32,
        ["current key id 'k9' is not in the key ring"],
    ),
    ("short hashing key", {"k1": 31}, "k1", 32, ["key 'k1' is 31 bytes; at least 32"]),
    ("empty hashing key", {"k1": 0}, "k1", 32, ["key 'k1' is 0 bytes"]),
    ("short pseudonym key", {"k1": 32}, "k1", 16, ["pseudonym key is shorter than 32 bytes"]),
    (
        "every problem at once",
        {"k1": 32, "k2": 8, "k3": 31},
        "k9",
        0,
        [
            "current key id 'k9' is not in the key ring",
            "key 'k2' is 8 bytes",
            "key 'k3' is 31 bytes",
            "pseudonym key is shorter",
        ],
    ),
    ("no keys at all", {}, "k1", 32, ["current key id 'k1' is not in the key ring"]),
]


@pytest.mark.parametrize(
    ("description", "lengths", "current", "pseudonym_length", "fragments"), BAD_RINGS, ids=[c[0] for c in BAD_RINGS]
)
def test_key_ring_refuses_bad_keys_listing_every_problem(
    description: str, lengths: dict[str, int], current: str, pseudonym_length: int, fragments: list[str]
) -> None:
    keys = {KeyId(kid): secrets.token_bytes(n) for kid, n in lengths.items()}
    pseudonym_key = secrets.token_bytes(pseudonym_length)
    with pytest.raises(ValueError, match=r"^invalid key ring: ") as caught:
        KeyRing(keys=keys, current=KeyId(current), pseudonym_key=pseudonym_key)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message
    # The error names keys by id and length, never by their material.
    for key in [*keys.values(), pseudonym_key]:
        if key:
            assert repr(key) not in message
            assert key.hex() not in message


def test_key_ring_accepts_keys_of_exactly_the_minimum_length() -> None:
    ring = KeyRing(keys={KeyId("k1"): b"k" * 32}, current=KeyId("k1"), pseudonym_key=b"p" * 32)
    assert ring.hash_nino(NINO).key_id == "k1"


def test_key_ring_repr_does_not_reveal_key_material(ring: KeyRing, secrets_by_id: dict[KeyId, bytes]) -> None:
    # A key ring ends up in tracebacks and debug logs (it lives on the service object); the secrets must not.
    shown = repr(ring) + str(ring)
    for key in [*secrets_by_id.values(), ring.pseudonym_key]:
        assert repr(key) not in shown
        assert repr(key)[2:-1] not in shown


def test_pseudonym_is_stable_per_org(ring: KeyRing, secrets_by_id: dict[KeyId, bytes]) -> None:
    subject = str(NINO)
    first = ring.pseudonym("council-a", subject)
    assert ring.pseudonym("council-a", subject) == first
    # A fresh ring with the same secrets gives the same pseudonym: nothing depends on the cache.
    fresh = KeyRing(keys=dict(secrets_by_id), current=KeyId("k2"), pseudonym_key=ring.pseudonym_key)
    assert fresh.pseudonym("council-a", subject) == first
    assert ring.pseudonym("council-a", str(OTHER_NINO)) != first
    # Rotating the NINO hashing key (a new current key id) must not change what recipients see.
    rotated = KeyRing(
        keys={**secrets_by_id, KeyId("k9"): secrets.token_bytes(32)},
        current=KeyId("k9"),
        pseudonym_key=ring.pseudonym_key,
    )
    assert rotated.pseudonym("council-a", subject) == first
    assert rotated.stable_hash("user", "alice") == ring.stable_hash("user", "alice")
    assert rotated.hash_text("user", "alice") != ring.hash_text("user", "alice")


def test_pseudonyms_differ_across_orgs_and_pseudonym_keys(ring: KeyRing, secrets_by_id: dict[KeyId, bytes]) -> None:
    subject = str(NINO)
    orgs = ["council-a", "council-b", "dwp", "Council-A", "council-a "]
    pseudonyms = {ring.pseudonym(org, subject) for org in orgs}
    assert len(pseudonyms) == len(orgs)
    other_secret = KeyRing(keys=secrets_by_id, current=KeyId("k2"), pseudonym_key=secrets.token_bytes(32))
    assert other_secret.pseudonym("council-a", subject) != ring.pseudonym("council-a", subject)


def test_pseudonym_does_not_reveal_the_hash(ring: KeyRing) -> None:
    subject = ring.hash_nino(NINO)
    pseudonym = ring.pseudonym("council-a", str(NINO))
    assert str(NINO) not in pseudonym
    assert pseudonym.startswith("ps_")
    assert pseudonym != subject.value
    body = pseudonym.removeprefix("ps_")
    assert len(body) == 32
    assert int(body, 16) >= 0  # hex
    # No 8-character run of the hash appears in the pseudonym, nor the other way round.
    for i in range(len(subject.value) - 7):
        assert subject.value[i : i + 8] not in body
    for i in range(len(body) - 7):
        assert body[i : i + 8] not in subject.value


def test_hash_text_is_keyed_and_separated_by_purpose(ring: KeyRing, secrets_by_id: dict[KeyId, bytes]) -> None:
    user = ring.hash_text("user", "alice@council-a")
    # Domain-separated, unambiguous message: b"text" NUL purpose NUL value (see KeyRing.hash_text).
    expected = hmac.new(secrets_by_id[KeyId("k2")], b"text\x00user\x00alice@council-a", hashlib.sha256).hexdigest()
    assert user == expected
    assert ring.hash_text("user", "alice@council-a") == user
    assert ring.hash_text("session", "alice@council-a") != user
    assert ring.hash_text("user", "bob@council-a") != user
    assert ring.hash_text("user", str(NINO)) != ring.hash_nino(NINO).value


# (description, two (purpose, value) pairs that must not share a hash)
HASH_TEXT_SEPARATION = [
    ("a purpose named 'nino' against the NINO hash itself", ("nino", str(NINO)), None),
    ("a colon moved from purpose into value", ("user:admin", "alice"), ("user", "admin:alice")),
]


@pytest.mark.parametrize(
    ("description", "one", "other"), HASH_TEXT_SEPARATION, ids=[c[0] for c in HASH_TEXT_SEPARATION]
)
def test_hash_text_purpose_cannot_be_forged(
    ring: KeyRing, description: str, one: tuple[str, str], other: tuple[str, str] | None
) -> None:
    # The docstring promises hash_text is "separated from NINO hashes by purpose": no choice of purpose
    # and value may reproduce a NINO hash or another purpose's hash.
    theirs = ring.hash_nino(NINO).value if other is None else ring.hash_text(*other)
    assert ring.hash_text(*one) != theirs


@pytest.mark.parametrize("record_id", ["1", "9007199254740993", "HB-000042", "ü-ß"])
def test_person_keys_are_uuid5_of_the_spine_record(record_id: str) -> None:
    # Stored in the link index: a faster derivation must give the very same keys as uuid5 always did.
    from linkage.link import _SPINE_NAMESPACE, person_key_for

    assert person_key_for(record_id) == uuid.uuid5(_SPINE_NAMESPACE, record_id)
