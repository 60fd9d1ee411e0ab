"""The voice library's behaviour, run against both implementations (VoiceStore on disk,
SessionVoices in memory): names, limits, rights, edits, codes. Disk-only matters
(restart, corruption, full disk) are in test_voices_store.py."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from mimo_core.errors import InputTooLongError, PromptError
from mimo_core.voices import (OPERATOR, UNCHANGED, ConsentRequired, InvalidVoiceName, SessionVoices,
                              VoiceError, VoiceExists, VoiceForbidden, VoiceLibrary, VoiceLimitError,
                              VoiceNotFound, VoiceStore, VoiceTooLarge)

from .voices_support import TAG, add, audio_bytes, codes


@pytest.fixture(params=["store", "session"])
def make_lib(request, tmp_path):
    made = []

    def make(**limits):
        lib = (VoiceStore(tmp_path / f"lib{len(made)}", **limits) if request.param == "store"
               else SessionVoices(**limits))
        made.append(lib)
        return lib

    yield make
    for lib in made:
        lib.close()


@pytest.fixture
def lib(make_lib):
    return make_lib()


def one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert msg and "\n" not in msg
    return msg


def test_both_implement_the_protocol(lib):
    assert isinstance(lib, VoiceLibrary)


def test_add_then_get_round_trips_audio_codes_and_metadata(lib):
    v = add(lib, "Alice", transcript="hello there", language="en", note="warm", seed=3,
            filename="My Take.FLAC", duration_s=2.5, sample_rate=44100)
    assert (v.name, v.owner, v.shared, v.ok) == ("Alice", "alice", False, True)
    assert (v.filename, v.audio_size, v.duration_s, v.sample_rate) == ("My Take.FLAC", 1000, 2.5, 44100)
    assert (v.transcript, v.language, v.note, v.consent) == ("hello there", "en", "warm", True)
    assert v.codes_shape == (20, 25) and v.codes_tag == TAG and v.created_at.endswith("+00:00")
    assert lib.get("Alice", "alice") == v
    assert lib.audio("Alice", "alice") == audio_bytes(3)
    got = lib.get_codes("Alice", "alice", tag=TAG)
    assert got.dtype == np.int64 and np.array_equal(got, codes(3))
    assert [x.name for x in lib.list("alice")] == ["Alice"]


def test_codes_of_another_codec_are_none_until_re_encoded(lib):
    add(lib, "A")
    assert lib.get_codes("A", "alice", tag="other-codec") is None
    new = codes(9, c=8, t=7)
    v = lib.set_codes("A", "alice", new, tag="other-codec")
    assert v.codes_shape == (8, 7) and v.codes_tag == "other-codec"
    assert np.array_equal(lib.get_codes("A", "alice", tag="other-codec"), new)
    assert lib.get_codes("A", "alice", tag=TAG) is None


def test_stored_codes_are_a_copy(lib):
    c = codes(1)
    add(lib, "A", codes=c)
    c[:] = -1
    lib.get_codes("A", "alice", tag=TAG)[:] = -2
    assert np.array_equal(lib.get_codes("A", "alice", tag=TAG), codes(1))


@pytest.mark.parametrize("bad", [np.zeros((2, 3), np.float32), np.zeros(5, np.int64),
                                 np.zeros((0, 4), np.int64), [[1, 2]], np.zeros((2, 2), np.uint64)])
def test_codes_must_be_a_2d_integer_array(lib, bad):
    with pytest.raises(VoiceError) as err:
        add(lib, "A", codes=bad)
    assert "codes must" in one_line(err)


@pytest.mark.parametrize("consent", [False, None, "yes", 1])
def test_saving_needs_consent(lib, consent):
    with pytest.raises(ConsentRequired) as err:
        add(lib, "A", consent=consent)
    assert "confirm that you may use this voice" in one_line(err)
    assert lib.list("alice") == []


GOOD_NAMES = ["Alice", "my voice-2", "O'Brien", "v1.0", "snake_case", "张伟", "さくら", "김민준",
              "Zoë", "7", "a" * 64, "Ana María", "नमस्ते"]
BAD_NAMES = [("", "empty"), (" ", "space"), (" a", "space"), ("a ", "space"), (".", "letter or digit"),
             ("..", "letter or digit"), ("...", "letter or digit"), ("../x", "path separator"),
             ("a/b", "path separator"), ("a\\b", "path separator"), ("\x00", "'\\x00'"),
             ("a\x00b", "'\\x00'"), ("tab\there", "'\\t'"), ("new\nline", "'\\n'"),
             ("a" * 65, "longer than 64"), ("x" * 100_000, "longer than 64"), ("smile😀", "not allowed"),
             ("a:b", "not allowed"), ("\u202eevil", "not allowed"), (None, "must be text")]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_valid_names(lib, name):
    assert add(lib, name).name == name
    assert lib.get(name, "alice").name == name


@pytest.mark.parametrize("name,why", BAD_NAMES)
def test_invalid_names_are_refused_with_one_line(lib, name, why):
    with pytest.raises(InvalidVoiceName) as err:
        add(lib, name)
    msg = one_line(err)
    assert why in msg and len(msg) < 200
    assert lib.list("alice") == []


def test_max_name_len_is_configurable(make_lib):
    lib = make_lib(max_name_len=8)
    add(lib, "a" * 8)
    with pytest.raises(InvalidVoiceName, match="longer than 8"):
        add(lib, "b" * 9)


def test_names_are_nfc_and_case_insensitive_per_owner(lib):
    v = add(lib, "Zoe\u0308")                            # decomposed ë
    assert v.name == "Zoë"                               # stored NFC
    for same in ("ZOË", "zoë", "Zoe\u0308"):
        assert lib.get(same, "alice").id == v.id
        with pytest.raises(VoiceExists) as err:
            add(lib, same)
        assert one_line(err) == f"a voice named {same!r} already exists".replace("e\u0308", "ë")
    add(lib, "Straße")
    with pytest.raises(VoiceExists):
        add(lib, "STRASSE")                              # full case folding
    assert add(lib, "zoë", owner="bob").owner == "bob"   # unique per owner only


def test_filename_keeps_only_the_base_name(lib):
    v = add(lib, "A", filename="../../etc/passwd.wav")
    assert v.filename == "passwd.wav"
    assert add(lib, "B", filename="C:\\Users\\x\\take 1.mp3").filename == "take 1.mp3"


def test_count_limit_per_owner(make_lib):
    lib = make_lib(max_voices_per_owner=2)
    add(lib, "a"), add(lib, "b")
    with pytest.raises(VoiceLimitError) as err:
        add(lib, "c")
    assert "2 voices" in one_line(err)
    add(lib, "c", owner="bob")                           # another owner has their own quota
    lib.delete("a", "alice")
    add(lib, "c")


def test_audio_byte_and_second_limits(make_lib):
    lib = make_lib(max_audio_bytes=1000, max_audio_seconds=10)
    add(lib, "fits", duration_s=10.0)
    with pytest.raises(VoiceTooLarge) as err:
        add(lib, "big", audio=audio_bytes(0, 1001))
    assert "1,001 bytes; the limit is 1,000" in one_line(err)
    with pytest.raises(InputTooLongError, match="limit is 10 s"):
        add(lib, "long", duration_s=10.5)
    for bad in (0, -1, float("nan"), float("inf"), "abc"):
        with pytest.raises(VoiceError, match="duration_s"):
            add(lib, "x", duration_s=bad)
    with pytest.raises(VoiceError, match="empty"):
        add(lib, "x", audio=b"")
    assert [v.name for v in lib.list("alice")] == ["fits"]


@pytest.mark.parametrize("field,value,match", [("sample_rate", 0, "sample_rate"),
                                               ("sample_rate", 24000.0, "sample_rate"),
                                               ("language", "english please", "language"),
                                               ("transcript", "x" * 4001, "4001 characters"),
                                               ("note", None, "note must be text"),
                                               ("codes_tag", "", "codes_tag"),
                                               ("owner", None, "owner"), ("audio", "text", "bytes")])
def test_other_inputs_are_checked(lib, field, value, match):
    with pytest.raises(PromptError, match=match):
        add(lib, "A", **{field: value})


def test_two_owners_never_see_each_others_private_voices(lib):
    add(lib, "Mine", owner="alice")
    add(lib, "Secret", owner="bob")
    assert [v.name for v in lib.list("alice")] == ["Mine"]
    assert [v.name for v in lib.list("bob")] == ["Secret"]
    assert lib.list("alice", owner="bob") == []
    for call in (lambda: lib.get("Secret", "alice"), lambda: lib.get("Secret", "alice", owner="bob"),
                 lambda: lib.audio("Secret", "alice", owner="bob"),
                 lambda: lib.get_codes("Secret", "alice", tag=TAG, owner="bob"),
                 lambda: lib.delete("Secret", "alice", owner="bob"),
                 lambda: lib.rename("Secret", "Mine2", "alice", owner="bob")):
        with pytest.raises(VoiceNotFound) as err:
            call()
        assert "known voices: Mine" in one_line(err)    # alice's names only: no leak
    assert lib.get("Secret", "bob").owner == "bob"


def test_shared_voices_are_visible_to_all_but_changed_only_by_owner_or_operator(lib):
    add(lib, "Narrator", owner=OPERATOR, shared=True)
    add(lib, "Guest", owner="alice")
    lib.set_shared("Guest", True, OPERATOR, owner="alice")
    for viewer in ("alice", "bob", "carol"):
        assert {v.name for v in lib.list(viewer)} == {"Narrator", "Guest"}
        assert lib.get("narrator", viewer).shared
        assert lib.audio("guest", viewer) == audio_bytes(0)
    for call, action in ((lambda: lib.delete("Narrator", "bob"), "delete"),
                         (lambda: lib.delete("Guest", "bob"), "delete"),
                         (lambda: lib.update("Guest", "bob", note="mine now"), "edit"),
                         (lambda: lib.rename("Guest", "Mine", "bob"), "rename"),
                         (lambda: lib.set_codes("Guest", "bob", codes(1), tag="x"), "re-encode")):
        with pytest.raises(VoiceForbidden) as err:
            call()
        assert one_line(err).startswith(f"cannot {action} voice") and "another user" in str(err.value)
    lib.update("Guest", "alice", note="still mine")     # the owner keeps every right
    assert lib.get("guest", "bob").note == "still mine"


def test_only_the_operator_shares(lib):
    add(lib, "A", owner="alice")
    with pytest.raises(VoiceForbidden, match="only the operator"):
        lib.set_shared("A", True, "alice")
    with pytest.raises(VoiceForbidden, match="only the operator"):
        add(lib, "B", owner="alice", shared=True)
    assert lib.set_shared("A", True, OPERATOR, owner="alice").shared
    assert not lib.set_shared("A", False, OPERATOR, owner="alice").shared
    with pytest.raises(VoiceNotFound):
        lib.get("A", "bob")


def test_operator_may_delete_another_users_voice(lib):
    add(lib, "Private", owner="alice")
    assert [v.name for v in lib.list(OPERATOR, owner="alice")] == ["Private"]
    assert lib.list(OPERATOR) == []                      # the operator's own view stays its own
    lib.delete("Private", OPERATOR, owner="alice")
    assert lib.list("alice") == []


def test_own_voice_hides_a_shared_one_of_the_same_name(lib):
    add(lib, "Narrator", owner=OPERATOR, shared=True, seed=1)
    mine = add(lib, "narrator", owner="bob", seed=2)
    assert [v.id for v in lib.list("bob")] == [mine.id]  # every listed name resolves to itself
    assert lib.get("Narrator", "bob").id == mine.id
    lib.delete("Narrator", "bob")
    assert lib.get("Narrator", "bob").owner == OPERATOR


def test_one_shared_voice_per_name(lib):
    add(lib, "Narrator", owner=OPERATOR, shared=True)
    add(lib, "narrator", owner="alice")
    with pytest.raises(VoiceExists) as err:
        lib.set_shared("narrator", True, OPERATOR, owner="alice")
    assert one_line(err) == "a shared voice named 'narrator' already exists"
    add(lib, "Guest", owner="bob")
    lib.set_shared("Guest", True, OPERATOR, owner="bob")
    with pytest.raises(VoiceExists, match="^a shared voice named 'GUEST'"):
        add(lib, "GUEST", owner=OPERATOR, shared=True)
    with pytest.raises(VoiceExists, match="^a voice named 'NARRATOR'"):   # the owner's clash first
        add(lib, "NARRATOR", owner=OPERATOR, shared=True)
    with pytest.raises(VoiceExists, match="^a shared voice named 'narrator'"):
        lib.rename("Guest", "narrator", "bob")


def test_update_keeps_unchanged_fields_and_none_clears(lib):
    add(lib, "A", transcript="t", language="en", note="n")
    v = lib.update("a", "alice", note="new note")
    assert (v.transcript, v.language, v.note) == ("t", "en", "new note")
    v = lib.update("a", "alice", transcript=None, language="zh", note=UNCHANGED)
    assert (v.transcript, v.language, v.note) == (None, "zh", "new note")
    assert lib.get("A", "alice") == v
    with pytest.raises(VoiceError, match="language"):
        lib.update("a", "alice", language="not a tag!")


def test_rename(lib):
    add(lib, "Old")
    add(lib, "Taken")
    v = lib.rename("old", "New Name", "alice")
    assert v.name == "New Name" and lib.get("new name", "alice").id == v.id
    assert lib.rename("new name", "NEW NAME", "alice").name == "NEW NAME"   # case-only rename
    with pytest.raises(VoiceExists, match="'taken' already exists"):
        lib.rename("NEW NAME", "taken", "alice")
    with pytest.raises(InvalidVoiceName):
        lib.rename("NEW NAME", "../x", "alice")
    with pytest.raises(VoiceNotFound) as err:
        lib.get("Old", "alice")
    assert one_line(err) == "no voice named 'Old'; known voices: NEW NAME, Taken"


def test_delete(lib):
    add(lib, "A")
    lib.delete("a", "alice")
    assert lib.list("alice") == []
    with pytest.raises(VoiceNotFound, match="no saved voices"):
        lib.get("A", "alice")
    with pytest.raises(VoiceNotFound):
        lib.delete("A", "alice")


def test_session_voices_deep_copy_and_pickle_independently():
    lib = SessionVoices()
    add(lib, "A")
    for other in (copy.deepcopy(lib), pickle.loads(pickle.dumps(lib))):  # gr.State deep-copies
        add(other, "B")
        other.update("A", "alice", transcript=UNCHANGED, note="copy")
        assert [v.name for v in other.list("alice")] == ["A", "B"]
    assert [v.name for v in lib.list("alice")] == ["A"] and lib.get("A", "alice").note == ""
